using System.Text.Json;
using Strata.Conversion;
using Strata.Engine;
using Strata.Gguf;
using Strata.Tests.Support;
using Strata.Tests.Tokenizers;
using Xunit.Abstractions;

namespace Strata.Tests.Conversion;

/// <summary>
/// Hugging Face checkpoints built here (random weights, the real Llama 2 / Llama 3 / Qwen3 tokenizers) converted to
/// GGUF, then: llama.cpp and Strata on the GGUF against a float64 forward pass over the original tensors in HF's own
/// layout; tokenization in llama.cpp = Strata, and against the HF tokenizers' own ids; the chat template carried over.
/// </summary>
[Collection("vocab")]
public class ConvertTests(VocabFixture fx, ITestOutputHelper log)
{
    public static TheoryData<HfSpec> Specs => new()
    {
        new HfSpec("llama-llama2", "LlamaForCausalLM", "llama2", KvHeads: 2, DType: "F32", OutType: "f32"),
        // Embedding and lm_head padded past the tokenizer's 32000 tokens, as many fine-tunes have them.
        new HfSpec("llama-llama2-padded-sharded", "LlamaForCausalLM", "llama2", VocabSize: 32003, DType: "F16", Shards: 2, OutType: "f16"),
        new HfSpec("mistral-llama2-bf16-sharded", "MistralForCausalLM", "llama2", KvHeads: 1, DType: "BF16", Shards: 3, OutType: "f16", RopeScaling: "linear"),
        new HfSpec("llama3-ropescaled-tied", "LlamaForCausalLM", "llama3", Heads: 4, KvHeads: 4, Tied: true, DType: "F16", RopeTheta: 500000f, RopeScaling: "llama3", OutType: "f16"),
        new HfSpec("qwen2-padded-tied", "Qwen2ForCausalLM", "qwen3", Dim: 80, Heads: 5, KvHeads: 1, VocabSize: 151936, Tied: true, DType: "BF16", RopeTheta: 1000000f, OutType: "f32"),
        new HfSpec("qwen3-headdim", "Qwen3ForCausalLM", "qwen3", Heads: 4, KvHeads: 2, HeadDim: 32, DType: "F32", RopeTheta: 1000000f, OutType: "f16"),
    };

    // llama.cpp's disagreements with HF on the converted file are its own: no NFC (4) and Qwen's "</s>" piece taken
    // for a control token by its text (8); see HfReferenceTests. Strata agrees with HF everywhere.
    private static readonly Dictionary<string, (string Pre, int LlamaCppHfDisagreements)> Tokenizers = new()
    {
        ["llama2"] = ("default", 0),
        ["llama3"] = ("llama-bpe", 0),
        ["qwen3"] = ("qwen2", 12),
    };

    private static double Deviation(IReadOnlyList<float[]> actual, double[][] expected)
    {
        double worst = 0;
        for (int p = 0; p < expected.Length; p++)
        {
            double mean = expected[p].Average();
            double std = Math.Sqrt(expected[p].Sum(v => (v - mean) * (v - mean)) / expected[p].Length);
            for (int j = 0; j < expected[p].Length; j++) worst = Math.Max(worst, Math.Abs(actual[p][j] - expected[p][j]) / std);
        }
        return worst;
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void ConvertedModelMatchesHuggingFace(HfSpec spec)
    {
        Assert.NotNull(fx);
        using var dir = new TempDir();
        var built = HfCheckpoints.Write(spec, Path.Combine(dir.Path, spec.Name));
        string gguf = Path.Combine(dir.Path, spec.Name + ".gguf");
        var result = HfModelConverter.Convert(built.Dir, gguf, spec.OutType, threads: 2);
        var (pre, pinned) = Tokenizers[spec.Tokenizer];
        Assert.Equal(pre, result.TokenizerPre);

        // Metadata and layout as convert_hf_to_gguf.py writes them.
        using (var f = GgufFile.Open(gguf))
        {
            Assert.Equal(spec.Tied, f.FindTensor("output.weight") is null);
            Assert.Equal(spec.RopeScaling == "llama3", f.FindTensor("rope_freqs.weight") is not null);
            var tc = JsonDocument.Parse(File.ReadAllText(Path.Combine(built.Dir, "tokenizer_config.json"))).RootElement;
            if (tc.TryGetProperty("chat_template", out var ct) && ct.ValueKind == JsonValueKind.String)
                Assert.Equal(ct.GetString(), f.Metadata.GetString("tokenizer.chat_template"));
            Assert.Equal(HfModelConverter.OutTypes[spec.OutType].FileType, f.Metadata.GetUInt32("general.file_type"));
        }

        // Logits: llama.cpp and Strata against the float64 HF-layout forward pass; the last input is the embedding's
        // last row (a padding row where the vocabulary is padded), and every row of the output is compared.
        var rng = new Random(11);
        int rows = (int)built.Weights["model.embed_tokens.weight"].Shape[0];
        int realTokens = Math.Min(rows, 32000);
        var tokens = Enumerable.Range(0, 20).Select(_ => rng.Next(300, realTokens)).Append(rows - 1).ToArray();
        var expected = new HfReferenceModel(built).Logits(tokens);
        float[][] llamaLogits;
        using var llama = new LlamaCpp(gguf, context: 64);
        llamaLogits = llama.Logits(tokens);
        double llamaDev = Deviation(llamaLogits, expected);
        float[][] strataLogits;
        using (var model = Model.Load(gguf, new ModelOptions { Threads = 2, Context = 64 }))
        {
            int vocab = model.Config.VocabSize;
            var all = new float[tokens.Length * vocab];
            using var seq = model.NewSequence();
            model.Transformer.Forward(tokens, seq, all, allLogits: true);
            strataLogits = Enumerable.Range(0, tokens.Length).Select(i => all.AsSpan(i * vocab, vocab).ToArray()).ToArray();
        }
        double strataDev = Deviation(strataLogits, expected);
        log.WriteLine($"{spec}: max |llama.cpp - HF f64| / std = {llamaDev:P3}, max |strata - HF f64| / std = {strataDev:P3}");
        Assert.True(llamaDev < 0.01, $"llama.cpp deviates {llamaDev:P3}");
        Assert.True(strataDev < 0.01, $"Strata deviates {strataDev:P3}");

        // Tokenization: Strata = HF everywhere; llama.cpp = HF but for its pinned, known gaps.
        using var file = GgufFile.Open(gguf);
        var strataTok = new Strata.Tokenizers.Tokenizer(Strata.Tokenizers.Vocabulary.FromGguf(file.Metadata));
        var corpus = VocabFixture.Corpus();
        var reference = JsonSerializer.Deserialize<Dictionary<string, JsonElement[]>>(
            File.ReadAllText(Path.Combine(VocabFixture.RepoRoot, "tests", "Strata.Tests", "Tokenizers", "hf-reference.json")))![spec.Tokenizer];
        int strataDiffs = 0, llamaDiffs = 0;
        for (int i = 0; i < corpus.Length; i++)
            foreach (bool add in new[] { false, true })
            {
                var hf = reference[i].GetProperty(add ? "special" : "plain").EnumerateArray().Select(e => e.GetInt32()).ToArray();
                if (!strataTok.Encode(corpus[i], add, parseSpecial: true).SequenceEqual(hf)) strataDiffs++;
                if (!VocabFixture.LlamaTokenize(llama.Weights, corpus[i], add, parseSpecial: true).SequenceEqual(hf)) llamaDiffs++;
            }
        log.WriteLine($"{spec}: tokenization differs from HF on {strataDiffs} (Strata) and {llamaDiffs} (llama.cpp, pinned {pinned}) of {2 * corpus.Length}");
        Assert.Equal(0, strataDiffs);
        Assert.Equal(pinned, llamaDiffs);

        // The rows past the tokenizer's ids are unused [PAD<id>] tokens: none comes out of tokenizing its own text, and
        // each decodes to nothing, in Strata and in llama.cpp.
        var vocabulary = strataTok.Vocabulary;
        Assert.Equal(rows, vocabulary.Count);
        var pads = Enumerable.Range(0, rows).Where(i => vocabulary.Attributes(i) == Strata.Tokenizers.TokenAttributes.Unused).ToArray();
        var isPad = pads.ToHashSet();
        int tokenizerIds = HfCheckpoints.CountTokens(Path.Combine(built.Dir, "tokenizer.json"));
        Assert.Equal(Enumerable.Range(tokenizerIds, rows - tokenizerIds), pads);
        foreach (int id in pads)
        {
            Assert.Equal($"[PAD{id}]", vocabulary.TokenText(id));
            foreach (bool special in new[] { false, true })
            {
                Assert.Equal("", strataTok.Decode([id], special));
                Assert.Empty(VocabFixture.LlamaPiece(llama.Weights, id, special));
            }
            string text = vocabulary.TokenText(id);
            Assert.DoesNotContain(strataTok.Encode(text, addSpecial: false, parseSpecial: true), isPad.Contains);
            Assert.DoesNotContain(VocabFixture.LlamaTokenize(llama.Weights, text, addSpecial: false, parseSpecial: true), isPad.Contains);
        }

        // The chat template reaches llama.cpp.
        if (file.Metadata.TryGetString("tokenizer.chat_template") is string template)
            Assert.Equal(template, llama.Weights.Metadata["tokenizer.chat_template"]);
    }

    [Fact]
    public void UnsupportedOrBrokenCheckpointsGiveClearErrors()
    {
        Assert.NotNull(fx);
        using var dir = new TempDir();
        var built = HfCheckpoints.Write(new HfSpec("bad", "LlamaForCausalLM", "llama2", Layers: 1), Path.Combine(dir.Path, "m"));
        string outPath = Path.Combine(dir.Path, "out.gguf");
        string config = File.ReadAllText(Path.Combine(built.Dir, "config.json"));

        File.WriteAllText(Path.Combine(built.Dir, "config.json"), config.Replace("LlamaForCausalLM", "GPTNeoXForCausalLM"));
        Assert.Contains("architecture 'GPTNeoXForCausalLM' is not supported", Assert.ThrowsAny<StrataException>(() => HfModelConverter.Convert(built.Dir, outPath)).Message);

        File.WriteAllText(Path.Combine(built.Dir, "config.json"), config.Replace("\"intermediate_size\":128", "\"intermediate_size\":96"));
        Assert.Contains("config.json implies [96, 64]", Assert.ThrowsAny<StrataException>(() => HfModelConverter.Convert(built.Dir, outPath)).Message);

        File.WriteAllText(Path.Combine(built.Dir, "config.json"), config);
        Assert.Contains("output type 'q4_0'", Assert.ThrowsAny<StrataException>(() => HfModelConverter.Convert(built.Dir, outPath, "q4_0")).Message);
        File.WriteAllBytes(Path.Combine(built.Dir, "model.safetensors"), [9, 0, 0, 0, 0, 0, 0, 0, (byte)'{']);
        Assert.Contains("model.safetensors: header length 9 runs past the end", Assert.ThrowsAny<StrataException>(() => HfModelConverter.Convert(built.Dir, outPath)).Message);
        Assert.False(File.Exists(outPath));
    }
}
