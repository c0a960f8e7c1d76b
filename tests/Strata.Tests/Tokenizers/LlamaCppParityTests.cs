using System.Text;
using Strata.Tokenizers;
using Xunit.Abstractions;

namespace Strata.Tests.Tokenizers;

/// <summary>Strata's tokenizer against llama.cpp (through LLamaSharp) on real vocabularies: ids, pieces, streaming.</summary>
[Collection("vocab")]
public class LlamaCppParityTests(VocabFixture fx, ITestOutputHelper log)
{
    public static TheoryData<string> Variants() => new(VocabFixture.Variants.Select(v => v.Name));

    private static string Show(int[] ids) => "[" + string.Join(",", ids) + "]";

    [Theory]
    [MemberData(nameof(Variants))]
    public void EncodeMatchesLlamaCpp(string variant)
    {
        var v = fx.Get(variant);
        var corpus = VocabFixture.Corpus();
        int same = 0, total = 0, tokens = 0, parseMatters = 0;
        var failures = new List<string>();
        foreach (var text in corpus)
        {
            foreach (bool addSpecial in new[] { false, true })
            foreach (bool parseSpecial in new[] { false, true })
            {
                total++;
                int[] expected = VocabFixture.LlamaTokenize(v.Llama, text, addSpecial, parseSpecial);
                int[] actual = v.Strata.Encode(text, addSpecial, parseSpecial);
                tokens += expected.Length;
                if (parseSpecial && !expected.SequenceEqual(VocabFixture.LlamaTokenize(v.Llama, text, addSpecial, false))) parseMatters++;
                if (expected.SequenceEqual(actual)) same++;
                else failures.Add($"{System.Text.Json.JsonSerializer.Serialize(text)} add={addSpecial} parse={parseSpecial}: llama.cpp {Show(expected)} strata {Show(actual)}");
            }
        }
        log.WriteLine($"{variant}: {same}/{total} (texts x modes) identical to llama.cpp; {tokens} tokens; parse_special changed {parseMatters}");
        Assert.True(tokens > corpus.Length * 4, "llama.cpp returned suspiciously few tokens");
        Assert.True(parseMatters > 0, "parse_special never made a difference");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    /// <summary>Random texts built from the characters tokenizers trip over, in all four modes.</summary>
    [Theory]
    [MemberData(nameof(Variants))]
    public void RandomTextsMatchLlamaCpp(string variant)
    {
        var v = fx.Get(variant);
        var rng = new Random(20240611 + variant.Length);
        var failures = new List<string>();
        int n = 400;
        for (int i = 0; i < n; i++)
        {
            string text = AwkwardText.Random(rng);
            bool addSpecial = rng.Next(2) == 0, parseSpecial = rng.Next(2) == 0;
            int[] expected = VocabFixture.LlamaTokenize(v.Llama, text, addSpecial, parseSpecial);
            int[] actual = v.Strata.Encode(text, addSpecial, parseSpecial);
            if (!expected.SequenceEqual(actual))
                failures.Add($"{System.Text.Json.JsonSerializer.Serialize(text)} add={addSpecial} parse={parseSpecial}: llama.cpp {Show(expected)} strata {Show(actual)}");
        }
        log.WriteLine($"{variant}: {n - failures.Count}/{n} random texts identical to llama.cpp");
        Assert.True(failures.Count == 0, $"{failures.Count} differ:\n" + string.Join("\n", failures.Take(20)));
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void EveryTokenPieceMatchesLlamaCpp(string variant)
    {
        var v = fx.Get(variant);
        int n = v.Strata.Vocabulary.Count;
        var failures = new List<string>();
        for (int id = 0; id < n; id++)
        {
            foreach (bool special in new[] { false, true })
            {
                byte[] expected = VocabFixture.LlamaPiece(v.Llama, id, special);
                byte[] actual = v.Strata.TokenBytes(id, special);
                if (!expected.AsSpan().SequenceEqual(actual))
                    failures.Add($"id {id} special={special}: llama.cpp {System.Convert.ToHexString(expected)} strata {System.Convert.ToHexString(actual)}");
            }
        }
        Assert.True(failures.Count == 0, $"{failures.Count} pieces differ:\n" + string.Join("\n", failures.Take(20)));
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void DecodeEqualsConcatenatedPieces(string variant)
    {
        var v = fx.Get(variant);
        foreach (var text in VocabFixture.Corpus())
        {
            int[] ids = VocabFixture.LlamaTokenize(v.Llama, text, addSpecial: true, parseSpecial: true);
            foreach (bool special in new[] { false, true })
            {
                var expected = ids.SelectMany(id => VocabFixture.LlamaPiece(v.Llama, id, special)).ToArray();
                Assert.Equal(Encoding.UTF8.GetString(expected), v.Strata.Decode(ids, special));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void DetokenizeMatchesLlamaCpp(string variant)
    {
        var v = fx.Get(variant);
        foreach (var text in VocabFixture.Corpus())
        {
            int[] ids = VocabFixture.LlamaTokenize(v.Llama, text, addSpecial: true, parseSpecial: true);
            foreach (bool removeSpecial in new[] { false, true })
            foreach (bool unparseSpecial in new[] { false, true })
                Assert.Equal(VocabFixture.LlamaDetokenize(v.Llama, ids, removeSpecial, unparseSpecial), v.Strata.Detokenize(ids, removeSpecial, unparseSpecial));
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void SpecialTokenIdsMatchLlamaCpp(string variant)
    {
        var v = fx.Get(variant);
        var vocab = v.Llama.NativeHandle.Vocab;
        Assert.Equal(vocab.Count, v.Strata.Vocabulary.Count);
        Assert.Equal(vocab.BOS is { } b ? (int)b : -1, v.Strata.Vocabulary.Bos);
        Assert.Equal(vocab.EOS is { } e ? (int)e : -1, v.Strata.Vocabulary.Eos);
        Assert.Equal(vocab.Newline is { } nl ? (int)nl : -1, v.Strata.Vocabulary.Newline);
        for (int id = 0; id < vocab.Count; id++)
            Assert.True(((LLama.Native.LLamaToken)id).IsEndOfGeneration(vocab) == v.Strata.Vocabulary.IsEndOfGeneration(id), $"EOG differs for {id}");
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void StreamingDecoderEmitsOnlyCompleteCharacters(string variant)
    {
        var v = fx.Get(variant);
        foreach (var text in new[] { "😀👍🏽👨‍👩‍👧‍👦🇺🇸", "東京は日本の首都です。北京是中国的首都。", "서울은 한국의 수도입니다", "mixed 😀 text 中文 ok", "\U0001F9D1\u200D\U0001F680 𝔘𝔫𝔦𝔠𝔬𝔡𝔢" })
        {
            int[] ids = v.Strata.Encode(text, addSpecial: false, parseSpecial: false);
            var dec = new StreamingDecoder(v.Strata);
            var sb = new StringBuilder();
            foreach (int id in ids)
            {
                string chunk = dec.Push(id);
                for (int i = 0; i < chunk.Length; i++)
                {
                    Assert.NotEqual('\uFFFD', chunk[i]);
                    if (char.IsHighSurrogate(chunk[i])) Assert.True(i + 1 < chunk.Length && char.IsLowSurrogate(chunk[++i]), "split surrogate pair");
                    else Assert.False(char.IsLowSurrogate(chunk[i]), "lone low surrogate");
                }
                sb.Append(chunk);
            }
            sb.Append(dec.Flush());
            Assert.Equal(v.Strata.Decode(ids), sb.ToString());
            Assert.Equal(text, v.Strata.Vocabulary.Kind == VocabularyKind.SentencePiece && v.Strata.Vocabulary.AddSpacePrefix ? sb.ToString()[1..] : sb.ToString());
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void LongTextsAreFastAndMatch(string variant)
    {
        var v = fx.Get(variant);
        string paragraph = VocabFixture.Corpus()[^1];
        var big = new StringBuilder();
        while (big.Length < 100_000) big.Append(paragraph).Append('\n');
        string noSpaces = string.Concat(Enumerable.Repeat("abcdefghij0123456789xyz.,;中文", 400))[..10_000];
        foreach (var text in new[] { big.ToString(), noSpaces, new string('a', 10_000), new string(' ', 10_000) })
        {
            v.Strata.Encode(text[..100], false, false); // warm-up
            var sw = System.Diagnostics.Stopwatch.StartNew();
            int[] actual = v.Strata.Encode(text, addSpecial: true, parseSpecial: true);
            sw.Stop();
            log.WriteLine($"{variant}: {text.Length} chars -> {actual.Length} tokens in {sw.ElapsedMilliseconds} ms");
            Assert.True(sw.ElapsedMilliseconds < 1000, $"{text.Length} chars took {sw.ElapsedMilliseconds} ms");
            Assert.Equal(VocabFixture.LlamaTokenize(v.Llama, text, true, true), actual);
        }
    }
}
