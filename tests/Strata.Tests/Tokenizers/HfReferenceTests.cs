using System.Text.Json;
using Xunit.Abstractions;

namespace Strata.Tests.Tokenizers;

/// <summary>
/// Compares Strata (= llama.cpp, see <see cref="LlamaCppParityTests"/>) with the Hugging Face tokenizers' own ids
/// (hf-reference.json, produced by tests/hf-reference.mjs in Node). HF always parses special tokens, so the comparison
/// uses parseSpecial = true. Disagreements are reported, not failed: the bar is llama.cpp. The counts are pinned so
/// that a change in either direction is noticed.
/// </summary>
[Collection("vocab")]
public class HfReferenceTests(VocabFixture fx, ITestOutputHelper log)
{
    private sealed record Entry(int[] plain, int[] special);

    [Theory]
    // Strata's converter scores pieces -id (SentencePiece's order); the rest is SPM-vs-BPE merge order and spaces.
    [InlineData("llama2", 16)]
    // convert_hf_to_gguf.py's LlamaHfVocab scores every token -1000, so llama.cpp merges leftmost-first, not as HF's BPE.
    [InlineData("llama2-flat", 46)]
    // This tokenizer.json adds no BOS (no TemplateProcessing); the converted GGUF says add_bos_token = false.
    [InlineData("llama3", 0)]
    // llama.cpp skips the NFC normalizer (4) and treats the vocabulary's "</s>" as special by its text (8).
    [InlineData("qwen3", 12)]
    public void AgreementWithHuggingFace(string variant, int expectedDisagreements)
    {
        var v = fx.Get(variant);
        string name = VocabFixture.Variants.Single(x => x.Name == variant).Source;
        var reference = JsonSerializer.Deserialize<Dictionary<string, Entry[]>>(
            File.ReadAllText(Path.Combine(VocabFixture.RepoRoot, "tests", "Strata.Tests", "Tokenizers", "hf-reference.json")))!;
        var corpus = VocabFixture.Corpus();
        var refs = reference[name];
        Assert.Equal(corpus.Length, refs.Length);
        int same = 0, total = 0;
        var diffs = new List<string>();
        for (int i = 0; i < corpus.Length; i++)
        {
            foreach (bool addSpecial in new[] { false, true })
            {
                total++;
                int[] hf = addSpecial ? refs[i].special : refs[i].plain;
                int[] ours = v.Strata.Encode(corpus[i], addSpecial, parseSpecial: true);
                if (hf.SequenceEqual(ours)) same++;
                else diffs.Add($"{JsonSerializer.Serialize(corpus[i])} add={addSpecial}: hf [{string.Join(",", hf)}] llama.cpp/strata [{string.Join(",", ours)}]");
            }
        }
        log.WriteLine($"{variant}: {same}/{total} identical to Hugging Face");
        foreach (var d in diffs) log.WriteLine(d);
        Assert.True(diffs.Count == expectedDisagreements, $"{variant}: {diffs.Count} disagreements with HF (pinned {expectedDisagreements}):\n" + string.Join("\n", diffs.Take(30)));
    }
}
