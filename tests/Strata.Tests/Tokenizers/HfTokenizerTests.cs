using Strata.Conversion;
using Strata.Tokenizers;

namespace Strata.Tests.Tokenizers;

/// <summary>The GGUF tokenizer metadata produced from the real tokenizer.json files, as convert_hf_to_gguf.py would.</summary>
[Collection("vocab")]
public class HfTokenizerTests(VocabFixture fx)
{
    // The fixture is what fetches the files.
    private static HfTokenizer Load(string name, int? vocabSize = null) =>
        HfTokenizer.Load(Path.Combine(VocabFixture.CacheDir, name, "tokenizer.json"), Path.Combine(VocabFixture.CacheDir, name, "tokenizer_config.json"), vocabSize);

    [Fact]
    public void Llama2StyleBecomesLlamaModel()
    {
        Assert.NotNull(fx);
        var hf = Load("llama2");
        Assert.Equal("llama", hf.Model);
        Assert.Equal("default", hf.Pre);
        Assert.Equal(32000, hf.Tokens.Length);
        // Scored by merge rank: "▁t" is the first merge; the whitespace runs SentencePiece scores −1e9 come after
        // every ordinary merged piece; pieces no merge makes (bytes, specials, single characters) come last.
        float Score(string t) => hf.Scores![Array.IndexOf(hf.Tokens, t)];
        Assert.Equal(0f, Score("▁t"));
        Assert.True(Score("▁▁") < Score("▁Hello") && Score("▁Hello") < Score("▁t"));
        Assert.True(Score("<0x41>") < Score("▁▁") && Score("a") < Score("▁▁") && Score("</s>") < Score("▁▁"));
        Assert.Null(hf.Merges);
        Assert.Equal([(int)TokenType.Control, (int)TokenType.Control, (int)TokenType.Control], hf.TokenTypes[..3]);
        Assert.All(hf.TokenTypes[3..259], t => Assert.Equal((int)TokenType.Byte, t));
        Assert.All(hf.TokenTypes[259..], t => Assert.Equal((int)TokenType.Normal, t));
        Assert.Equal("<0x0A>", hf.Tokens[13]);
        Assert.Equal(new Dictionary<string, int> { ["bos"] = 1, ["eos"] = 2, ["unk"] = 0 }, hf.SpecialTokenIds);
        Assert.Equal(new Dictionary<string, bool> { ["bos"] = true, ["sep"] = false, ["eos"] = false }, hf.AddSpecialTokens);
    }

    [Fact]
    public void Llama3BecomesGpt2WithLlamaBpe()
    {
        Assert.NotNull(fx);
        var hf = Load("llama3");
        Assert.Equal(("gpt2", "llama-bpe"), (hf.Model, hf.Pre));
        Assert.Equal(128256, hf.Tokens.Length);
        Assert.Null(hf.Scores);
        Assert.Equal(280147, hf.Merges!.Length);
        Assert.Equal("Ġ Ġ", hf.Merges[0]);
        Assert.All(hf.TokenTypes[..128000], t => Assert.Equal((int)TokenType.Normal, t));
        Assert.All(hf.TokenTypes[128000..], t => Assert.Equal((int)TokenType.Control, t));
        Assert.Equal(new Dictionary<string, int> { ["bos"] = 128000, ["eos"] = 128001 }, hf.SpecialTokenIds);
        // Neither the config nor a post-processor adds BOS, so Hugging Face adds none: the GGUF says so explicitly
        // (left unstated, llama.cpp's llama-bpe default would add one).
        Assert.Equal(new Dictionary<string, bool> { ["bos"] = false }, hf.AddSpecialTokens);
        Assert.StartsWith("{% set loop_messages = messages %}", hf.ChatTemplate);
    }

    [Fact]
    public void Qwen3BecomesGpt2WithQwen2AndTypedAddedTokens()
    {
        Assert.NotNull(fx);
        var hf = Load("qwen3");
        Assert.Equal(("gpt2", "qwen2"), (hf.Model, hf.Pre));
        Assert.Equal(151669, hf.Tokens.Length);
        Assert.Equal(151387, hf.Merges!.Length);
        Assert.DoesNotContain(hf.Merges, m => m.Count(c => c == ' ') != 1);
        int Type(string text) => hf.TokenTypes[Array.IndexOf(hf.Tokens, text)];
        Assert.Equal((int)TokenType.Control, Type("<|im_start|>"));
        Assert.Equal((int)TokenType.Control, Type("<|fim_prefix|>")); // not special in tokenizer.json, but looks special
        Assert.Equal((int)TokenType.UserDefined, Type("<think>"));
        Assert.Equal((int)TokenType.UserDefined, Type("<tool_call>"));
        Assert.Equal(new Dictionary<string, int> { ["eos"] = 151645, ["pad"] = 151643 }, hf.SpecialTokenIds);
        Assert.Equal(new Dictionary<string, bool> { ["bos"] = false }, hf.AddSpecialTokens);
        Assert.Contains("<|im_start|>", hf.ChatTemplate);

        var padded = Load("qwen3", vocabSize: 151936);
        Assert.Equal(151936, padded.Tokens.Length);
        Assert.Equal("[PAD151669]", padded.Tokens[151669]);
        Assert.Equal((int)TokenType.Unused, padded.TokenTypes[^1]);
    }

    [Fact]
    public void NonBpeTokenizerIsAClearError()
    {
        using var dir = new Strata.Tests.Support.TempDir();
        string path = Path.Combine(dir.Path, "tokenizer.json");
        File.WriteAllText(path, """{"model":{"type":"Unigram","vocab":[]}}""");
        var e = Assert.Throws<TokenizerException>(() => HfTokenizer.Load(path, null));
        Assert.Contains("Unigram", e.Message);
    }
}
