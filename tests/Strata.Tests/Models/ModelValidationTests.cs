using Strata.Engine;
using Strata.Gguf;
using Strata.Models;
using Strata.Tensors;
using Strata.Tests.Support;

namespace Strata.Tests.Models;

/// <summary>A GGUF that parses but does not describe a runnable model: one clear error naming the key or tensor at fault.</summary>
public class ModelValidationTests
{
    private static readonly ModelSpec Spec = new("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 300);

    /// <summary>Rewrites a valid model with one change to its metadata or tensors.</summary>
    private static string Variant(string dir, Func<string, GgufValue, GgufValue?> key, Func<GgufTensorInfo, (GgmlType Type, long[] Shape)?> tensor)
    {
        string source = TestModels.Write(Spec, dir);
        using var f = GgufFile.Open(source);
        var w = new GgufWriter();
        foreach (var k in f.Metadata.Keys)
        {
            if (k == GgufWriter.DataChecksumKey) continue;
            if (key(k, f.Metadata.Get(k)) is { } v) w.Add(k, v);
        }
        foreach (var t in f.Tensors)
        {
            var change = tensor(t);
            if (change is null) continue;
            var (type, shape) = change.Value;
            w.AddTensor(t.Name, type, shape, new byte[GgufWriter.TensorBytes(t.Name, type, shape)]);
        }
        string path = Path.Combine(dir, "variant.gguf");
        w.Write(path);
        return path;
    }

    private static void ExpectError(string path, params string[] fragments)
    {
        var e = Assert.ThrowsAny<StrataException>(() => Model.Load(path, new ModelOptions { Threads = 1 }).Dispose());
        foreach (var s in fragments) Assert.Contains(s, e.Message);
        Assert.Contains("variant.gguf", e.Message);
    }

    [Fact]
    public void MissingTensor()
    {
        using var d = new TempDir();
        ExpectError(Variant(d.Path, (_, v) => v, t => t.Name == "blk.1.ffn_up.weight" ? null : (t.Type, t.Shape)), "blk.1.ffn_up.weight", "missing");
    }

    [Fact]
    public void TensorShapeDisagreesWithHyperParameters()
    {
        using var d = new TempDir();
        ExpectError(Variant(d.Path, (_, v) => v, t => t.Name == "blk.0.attn_k.weight" ? (t.Type, new long[] { 64, 48 }) : (t.Type, t.Shape)),
            "blk.0.attn_k.weight", "[64, 48]", "[64, 32]");
    }

    [Fact]
    public void MissingHyperParameter()
    {
        using var d = new TempDir();
        ExpectError(Variant(d.Path, (k, v) => k == "llama.block_count" ? null : v, t => (t.Type, t.Shape)), "llama.block_count");
    }

    [Fact]
    public void UnsupportedArchitecture()
    {
        using var d = new TempDir();
        ExpectError(Variant(d.Path, (k, v) => k == "general.architecture" ? new GgufValue(GgufValueType.String, "mamba") : v, t => (t.Type, t.Shape)), "mamba");
    }

    [Fact]
    public void HeadsNotAMultipleOfKvHeads()
    {
        using var d = new TempDir();
        ExpectError(Variant(d.Path, (k, v) => k == "llama.attention.head_count_kv" ? new GgufValue(GgufValueType.UInt32, 3u) : v, t => (t.Type, t.Shape)), "head_count_kv");
    }

    [Fact]
    public void WrongKeyType()
    {
        using var d = new TempDir();
        ExpectError(Variant(d.Path, (k, v) => k == "llama.embedding_length" ? new GgufValue(GgufValueType.String, "64") : v, t => (t.Type, t.Shape)), "llama.embedding_length");
    }

    [Fact]
    public void UnsupportedTensorType()
    {
        using var d = new TempDir();
        ExpectError(Variant(d.Path, (_, v) => v, t => t.Name == "blk.0.ffn_gate.weight" ? (GgmlType.IQ4_NL, t.Shape) : (t.Type, t.Shape)), "blk.0.ffn_gate.weight", "IQ4_NL");
    }

    [Fact]
    public void VocabularyAndEmbeddingDisagree()
    {
        using var d = new TempDir();
        ExpectError(Variant(d.Path, (k, v) => k == "tokenizer.ggml.tokens"
            ? new GgufValue(GgufValueType.Array, new GgufArray(GgufValueType.String, ((string[])((GgufArray)v.Value).Items)[..299]))
            : k is "tokenizer.ggml.scores" or "tokenizer.ggml.token_type" ? null : v, t => (t.Type, t.Shape)), "299");
    }

    [Fact]
    public void OutOfVocabularyTokenIsRejected()
    {
        using var d = new TempDir();
        using var model = Model.Load(TestModels.Write(Spec, d.Path), new ModelOptions { Threads = 1 });
        using var seq = model.NewSequence();
        var e = Assert.Throws<StrataException>(() => model.Transformer.Forward([1, 300], seq, new float[300]));
        Assert.Contains("300", e.Message);
    }

    [Fact]
    public void PromptLongerThanContextIsRejected()
    {
        using var d = new TempDir();
        using var model = Model.Load(TestModels.Write(Spec, d.Path), new ModelOptions { Threads = 1, Context = 16 });
        using var g = new Generator(model);
        var e = Assert.Throws<StrataException>(() => g.Generate(Enumerable.Repeat(5, 20).ToArray(), new GenerationOptions()));
        Assert.Contains("context", e.Message);
    }

    [Fact]
    public void GenerationStopsWhenTheContextIsFull()
    {
        using var d = new TempDir();
        using var model = Model.Load(TestModels.Write(Spec, d.Path), new ModelOptions { Threads = 1, Context = 16 });
        using var g = new Generator(model);
        var r = g.Generate([1, 5, 6], new GenerationOptions { MaxTokens = -1, Sampling = Strata.Sampling.SamplerOptions.Greedy });
        Assert.True(r.StopReason is StopReason.ContextFull or StopReason.EndOfGeneration, r.StopReason.ToString());
        Assert.True(r.PromptTokens.Length + r.Tokens.Length <= 17);
    }
}
