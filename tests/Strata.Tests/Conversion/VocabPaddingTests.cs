using System.Text.Json.Nodes;
using LLama;
using LLama.Common;
using Strata.Conversion;
using Strata.Gguf;
using Strata.Tests.Support;
using Strata.Tests.Tokenizers;
using Strata.Tokenizers;

namespace Strata.Tests.Conversion;

/// <summary>
/// Where a checkpoint's tokenizer and its weights disagree on the vocabulary, convert does what convert_hf_to_gguf.py
/// does: pads free ids to the embedding's rows, drops SentencePiece-style added tokens past them, and refuses a
/// tokenizer larger than the embedding or a config.json vocab_size that is not the embedding's (a clear one-line error).
/// The padded conversions themselves are checked end to end in <see cref="ConvertTests"/>.
/// </summary>
[Collection("vocab")]
public class VocabPaddingTests(VocabFixture fx)
{
    private static string Message(Action convert)
    {
        string m = Assert.ThrowsAny<StrataException>(convert).Message;
        Assert.DoesNotContain('\n', m);
        return m;
    }

    [Theory]
    [InlineData("llama2", 31990, 32000)]
    [InlineData("qwen3", 151000, 151669)]
    public void EmbeddingWithFewerRowsThanTokensIsAOneLineError(string tokenizer, int rows, int tokens)
    {
        Assert.NotNull(fx);
        using var dir = new TempDir();
        var built = HfCheckpoints.Write(new HfSpec("short", tokenizer == "llama2" ? "LlamaForCausalLM" : "Qwen3ForCausalLM", tokenizer, Layers: 1, VocabSize: rows), Path.Combine(dir.Path, "m"));
        string outPath = Path.Combine(dir.Path, "out.gguf");
        string m = Message(() => HfModelConverter.Convert(built.Dir, outPath, "f32"));
        Assert.Equal($"{Path.Combine(built.Dir, "tokenizer.json")} has {tokens} tokens but model.embed_tokens.weight in model.safetensors has {rows} rows", m);
        Assert.False(File.Exists(outPath));
    }

    [Fact]
    public void ConfigVocabSizeOtherThanTheEmbeddingRowsIsAOneLineError()
    {
        Assert.NotNull(fx);
        using var dir = new TempDir();
        var built = HfCheckpoints.Write(new HfSpec("cfg", "LlamaForCausalLM", "llama2", Layers: 1, VocabSize: 32003, Shards: 2), Path.Combine(dir.Path, "m"));
        string config = Path.Combine(built.Dir, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"vocab_size\":32003", "\"vocab_size\":32000"));
        string m = Message(() => HfModelConverter.Convert(built.Dir, Path.Combine(dir.Path, "out.gguf"), "f32"));
        Assert.Equal($"{config}: vocab_size is 32000 but model.embed_tokens.weight in model-00001-of-00002.safetensors has 32003 rows", m);
    }

    [Fact]
    public void SentencePieceAddedTokensPastTheEmbeddingAreDroppedWithAWarning()
    {
        // A fine-tune that added "<pad>" (id 32000) to the tokenizer but not to the 32000-row embedding: the script
        // leaves the token out (and pad_token_id with it), and so does convert.
        Assert.NotNull(fx);
        using var dir = new TempDir();
        var built = HfCheckpoints.Write(new HfSpec("pad-added", "LlamaForCausalLM", "llama2", Layers: 1), Path.Combine(dir.Path, "m"));
        Edit(Path.Combine(built.Dir, "tokenizer.json"), j => j["added_tokens"]!.AsArray().Add(AddedToken(32000, "<pad>", special: true)));
        Edit(Path.Combine(built.Dir, "tokenizer_config.json"), j => j["pad_token"] = "<pad>");
        string outPath = Path.Combine(dir.Path, "out.gguf");
        var r = StrataCli.Run("convert", built.Dir, "-o", outPath, "--type", "f32");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("strata: warning: 1 added token(s) left out, their ids past the embedding's rows: '<pad>' (32000)", r.Stderr.Trim());
        using var f = GgufFile.Open(outPath);
        var tokens = f.Metadata.TryGetStringArray("tokenizer.ggml.tokens")!;
        Assert.Equal(32000, tokens.Length);
        Assert.DoesNotContain("<pad>", tokens);
        Assert.Null(f.Metadata.TryGetUInt32("tokenizer.ggml.padding_token_id"));
    }

    [Fact]
    public void AddedTokensKeepTheirIdsAmongThePadding()
    {
        // An added token that repeats a base id replaces its text; one past a gap keeps its id, the gap padded.
        Assert.NotNull(fx);
        using var dir = new TempDir();
        string json = Path.Combine(dir.Path, "tokenizer.json");
        File.Copy(Path.Combine(VocabFixture.CacheDir, "llama2", "tokenizer.json"), json);
        Edit(json, j =>
        {
            j["added_tokens"]!.AsArray().Add(AddedToken(31999, "<|im_end|>", special: true));
            j["added_tokens"]!.AsArray().Add(AddedToken(32002, "<tool>", special: false));
            j["added_tokens"]!.AsArray().Add(AddedToken(32010, "<late>", special: false));
        });
        var hf = HfTokenizer.Load(json, Path.Combine(VocabFixture.CacheDir, "llama2", "tokenizer_config.json"), vocabSize: 32004);
        Assert.Equal(32004, hf.Tokens.Length);
        Assert.Equal(["<|im_end|>", "[PAD32000]", "[PAD32001]", "<tool>", "[PAD32003]"], hf.Tokens[31999..]);
        Assert.Equal([TokenType.Unused, TokenType.Unused, TokenType.UserDefined, TokenType.Unused], hf.TokenTypes[32000..].Select(t => (TokenType)t));
        Assert.All(new[] { 32000, 32001, 32003 }, id => Assert.Equal(HfTokenizer.PadScore, hf.Scores![id]));
        Assert.Equal(["'<late>' (32010)"], hf.DroppedTokens);
    }

    [Fact]
    public void UnusedPiecesAreNeverProducedOnConvertedFiles()
    {
        // An unused piece a merge can reach ("▁Hello" + "hello"): Hugging Face has no such token, and Strata does not
        // produce it on a converted file; on a file without Strata's keys it merges as llama.cpp does.
        Assert.NotNull(fx);
        using var dir = new TempDir();
        var hf = HfTokenizer.Load(Path.Combine(VocabFixture.CacheDir, "llama2", "tokenizer.json"), Path.Combine(VocabFixture.CacheDir, "llama2", "tokenizer_config.json"));
        const int Id = 31999;
        var tokens = (string[])hf.Tokens.Clone();
        var types = (int[])hf.TokenTypes.Clone();
        (tokens[Id], types[Id]) = ("▁Hellohello", (int)TokenType.Unused);
        void Tweak(GgufWriter w) { w.Add("tokenizer.ggml.tokens", tokens); w.Add("tokenizer.ggml.token_type", types); }
        string converted = Path.Combine(dir.Path, "converted.gguf"), plain = Path.Combine(dir.Path, "plain.gguf");
        VocabFixture.WriteVocabGguf(hf, converted, Tweak, strataExtensions: true);
        VocabFixture.WriteVocabGguf(hf, plain, Tweak, strataExtensions: false);
        int[] Strata(string path)
        {
            using var f = GgufFile.Open(path);
            return Tokenizer.FromGguf(f.Metadata).Encode("Hellohello", addSpecial: false, parseSpecial: true);
        }
        int[] halves = [Array.IndexOf(hf.Tokens, "▁Hello"), Array.IndexOf(hf.Tokens, "hello")];
        Assert.Equal(halves, Strata(converted));
        Assert.Equal([Id], Strata(plain));
        using var llama = LLamaWeights.LoadFromFile(new ModelParams(plain) { VocabOnly = true });
        Assert.Equal([Id], VocabFixture.LlamaTokenize(llama, "Hellohello", addSpecial: false, parseSpecial: true));
    }

    private static JsonObject AddedToken(int id, string content, bool special) => new()
    {
        ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
        ["normalized"] = false, ["special"] = special,
    };

    private static void Edit(string path, Action<JsonObject> edit)
    {
        var j = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(j);
        File.WriteAllText(path, j.ToJsonString());
    }
}
