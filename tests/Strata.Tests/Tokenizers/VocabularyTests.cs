using Strata.Tests.Support;
using Strata.Conversion;
using Strata.Gguf;
using Strata.Tests.Gguf;
using Strata.Tokenizers;

namespace Strata.Tests.Tokenizers;

/// <summary>Vocabulary loading rules and errors, on small hand-made GGUF files.</summary>
public class VocabularyTests
{
    private static Vocabulary Load(Action<GgufWriter> build)
    {
        using var dir = new TempDir();
        var w = new GgufWriter();
        w.Add("general.architecture", "llama");
        build(w);
        string path = Path.Combine(dir.Path, "v.gguf");
        w.Write(path);
        using var f = GgufFile.Open(path);
        return Vocabulary.FromGguf(f.Metadata);
    }

    private static readonly string[] SpmTokens = ["<unk>", "<s>", "</s>", "<0x0A>", "<0x41>", "▁", "a", "b", "▁a", "ab", "▁ab"];
    private static readonly int[] SpmTypes = [2, 3, 3, 6, 6, 1, 1, 1, 1, 1, 1];

    private static void Spm(GgufWriter w)
    {
        w.Add("tokenizer.ggml.model", "llama");
        w.Add("tokenizer.ggml.tokens", SpmTokens);
        w.Add("tokenizer.ggml.scores", SpmTokens.Select((_, i) => -(float)i).ToArray());
        w.Add("tokenizer.ggml.token_type", SpmTypes);
    }

    [Fact]
    public void SentencePieceDefaults()
    {
        var v = Load(Spm);
        Assert.Equal(VocabularyKind.SentencePiece, v.Kind);
        Assert.Equal((1, 2, 0), (v.Bos, v.Eos, v.Unknown));
        Assert.True(v.AddBos);
        Assert.False(v.AddEos);
        Assert.True(v.AddSpacePrefix);
        Assert.Equal(3, v.Newline);
        var t = new Tokenizer(v);
        Assert.Equal([1, 10, 7], t.Encode("abb", addSpecial: true, parseSpecial: false));
        // 'c' is no token: byte fallback needs <0x63>, which this vocabulary lacks
        Assert.Throws<TokenizerException>(() => t.Encode("c", false, false));
        Assert.Equal(" abb", t.Decode([1, 10, 7]));
        Assert.Equal("<s> abb", t.Decode([1, 10, 7], special: true));
        Assert.Equal(" abb", t.Detokenize([1, 10, 7], removeSpecial: true, unparseSpecial: false)); // llama.cpp keeps the space after a removed BOS
        Assert.Equal("abb", t.Detokenize([10, 7], removeSpecial: true, unparseSpecial: false));
        Assert.Equal("A\n", t.Decode([4, 3]));
    }

    [Fact]
    public void UnknownModelIsAClearError()
    {
        var e = Assert.Throws<TokenizerException>(() => Load(w => { Spm(w); w.Add("tokenizer.ggml.model", "wordsalad"); }));
        Assert.Equal("v.gguf: unknown tokenizer model 'wordsalad'", e.Message);
        e = Assert.Throws<TokenizerException>(() => Load(w => { Spm(w); w.Add("tokenizer.ggml.model", "bert"); }));
        Assert.Contains("'bert' is not supported", e.Message);
    }

    [Fact]
    public void MissingVocabularyIsAClearError()
    {
        var e = Assert.Throws<TokenizerException>(() => Load(_ => { }));
        Assert.Contains("tokenizer.ggml.model", e.Message);
        e = Assert.Throws<TokenizerException>(() => Load(w => w.Add("tokenizer.ggml.model", "llama")));
        Assert.Contains("tokenizer.ggml.tokens", e.Message);
    }

    [Fact]
    public void MismatchedArrayLengthsAreErrors()
    {
        var e = Assert.Throws<TokenizerException>(() => Load(w => { Spm(w); w.Add("tokenizer.ggml.scores", new[] { 0f, 1f }); }));
        Assert.Contains("'tokenizer.ggml.scores' has 2 entries but 'tokenizer.ggml.tokens' has 11", e.Message);
        e = Assert.Throws<TokenizerException>(() => Load(w => { Spm(w); w.Add("tokenizer.ggml.token_type", new[] { 1 }); }));
        Assert.Contains("token_type", e.Message);
    }

    [Fact]
    public void WrongKeyTypeIsAClearError()
    {
        var e = Assert.Throws<TokenizerException>(() => Load(w => { Spm(w); w.Add("tokenizer.ggml.tokens", 5u); }));
        Assert.Contains("tokenizer.ggml.tokens", e.Message);
    }

    [Fact]
    public void DuplicateTokensAreErrors()
    {
        var e = Assert.Throws<TokenizerException>(() => Load(w =>
        {
            w.Add("tokenizer.ggml.model", "llama");
            w.Add("tokenizer.ggml.tokens", new[] { "<unk>", "<s>", "</s>", "a", "a" });
        }));
        Assert.Equal("v.gguf: duplicate token in vocabulary: 'a' has ids 3 and 4", e.Message);
    }

    [Fact]
    public void SpecialIdsOutOfRangeKeepTheDefaultLikeLlamaCpp()
    {
        var v = Load(w => { Spm(w); w.Add("tokenizer.ggml.bos_token_id", 99u); w.Add("tokenizer.ggml.eos_token_id", 5u); });
        Assert.Equal(1, v.Bos);
        Assert.Equal(5, v.Eos);
        Assert.Throws<TokenizerException>(() => new Tokenizer(v).TokenBytes(11));
    }

    private static void Bpe(GgufWriter w)
    {
        w.Add("tokenizer.ggml.model", "gpt2");
        w.Add("tokenizer.ggml.tokens", new[] { "a", "b", "Ġ", "ab", "Ġab", "Ċ" });
        w.Add("tokenizer.ggml.merges", new[] { "a b", "Ġ ab" });
    }

    [Fact]
    public void BytePairDefaultsAndPreTokenizerChoice()
    {
        var v = Load(w => { Bpe(w); w.Add("tokenizer.ggml.pre", "qwen2"); });
        Assert.Equal(VocabularyKind.BytePairEncoding, v.Kind);
        Assert.Equal(PreTokenizerKind.Qwen2, v.PreTokenizer);
        Assert.False(v.AddBos);
        Assert.Equal(-1, v.Bos); // default 11 is out of range
        Assert.Equal(5, v.Newline);
        Assert.Equal([3, 4], new Tokenizer(v).Encode("ab ab", false, false));
        Assert.Equal(PreTokenizerKind.Default, Load(Bpe).PreTokenizer);
    }

    [Fact]
    public void UnknownPreTokenizerIsAClearError()
    {
        var e = Assert.Throws<TokenizerException>(() => Load(w => { Bpe(w); w.Add("tokenizer.ggml.pre", "mystery-7b"); }));
        Assert.Equal("v.gguf: pre-tokenizer 'mystery-7b' is not supported by Strata", e.Message);
    }

    [Fact]
    public void AddBosWithoutBosIsAnError()
    {
        var e = Assert.Throws<TokenizerException>(() => Load(w => { Bpe(w); w.Add("tokenizer.ggml.pre", "llama-bpe"); }));
        Assert.Contains("add_bos_token is true, but tokenizer.ggml.bos_token_id is not set", e.Message);
    }

    [Fact]
    public void MissingMergesIsAnError()
    {
        var e = Assert.Throws<TokenizerException>(() => Load(w =>
        {
            w.Add("tokenizer.ggml.model", "gpt2");
            w.Add("tokenizer.ggml.tokens", new[] { "a" });
        }));
        Assert.Contains("merges", e.Message);
    }

    [Fact]
    public void StreamingDecoderHoldsBackPartialCharacters()
    {
        // SPM byte tokens for the four bytes of U+1F600 and for 'A'.
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        for (int b = 0; b < 256; b++) tokens.Add($"<0x{b:X2}>");
        var v = Load(w =>
        {
            w.Add("tokenizer.ggml.model", "llama");
            w.Add("tokenizer.ggml.tokens", tokens.ToArray());
            w.Add("tokenizer.ggml.token_type", tokens.Select((_, i) => i < 3 ? 3 : 6).ToArray());
        });
        var t = new Tokenizer(v);
        var d = new StreamingDecoder(t);
        Assert.Equal("", d.Push(3 + 0xF0));
        Assert.Equal("", d.Push(3 + 0x9F));
        Assert.Equal("", d.Push(3 + 0x98));
        Assert.Equal("\U0001F600", d.Push(3 + 0x80));
        Assert.Equal("A", d.Push(3 + 0x41));
        Assert.Equal("", d.Push(1)); // control token renders as nothing
        Assert.Equal("", d.Push(3 + 0xE4));
        Assert.Equal("\uFFFDB", d.Push(3 + 0x42)); // broken sequence: replacement, then the next character
        Assert.Equal("", d.Push(3 + 0xE4));
        Assert.Equal("\uFFFD", d.Flush());
    }
}
