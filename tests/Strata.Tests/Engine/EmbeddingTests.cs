using LLama;
using LLama.Common;
using Strata.Engine;
using Strata.Engine.Serving;
using Strata.Models;
using Strata.Tensors;
using Strata.Tests.Support;
using Xunit.Abstractions;

namespace Strata.Tests.Engine;

/// <summary>
/// Embedding models (a GGUF pooling type, no output head) through the serving engine, against llama.cpp's embeddings
/// (LLamaSharp's LLamaEmbedder, which L2-normalises as llama.cpp's tools do). Tolerance, on the unit vectors: with
/// F32/F16 weights every component within 1e-3 of llama.cpp's and a cosine similarity of at least 0.99999 (measured:
/// 2e-4 at worst); with Q8_0 weights, whose activations both quantize and sum in their own order, 4e-3 and 0.9999
/// (measured: 1.3e-3, 0.99999).
/// </summary>
public class EmbeddingTests(ITestOutputHelper output)
{
    private static (double MaxComponentError, double MinCosine) Tolerance(ModelSpec s) =>
        s.Type is GgmlType.F32 or GgmlType.F16 ? (1e-3, 0.99999) : (4e-3, 0.9999);

    public static TheoryData<ModelSpec> EmbeddingModels => new()
    {
        new ModelSpec("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 300, Tied: true, Pooling: PoolingType.Mean),
        new ModelSpec("qwen3", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 320, HeadDim: 32, Tied: true, Pooling: PoolingType.Last), // Qwen3-Embedding's shape
        new ModelSpec("qwen2", Dim: 80, Layers: 2, Heads: 5, KvHeads: 1, FeedForward: 128, Vocab: 400, Type: GgmlType.F16, Tied: true, Pooling: PoolingType.Cls),
        new ModelSpec("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 1, FeedForward: 128, Vocab: 500, Type: GgmlType.Q8_0, Pooling: PoolingType.Mean), // with an output head
    };

    private static readonly string[] Texts = ["In the beginning", "hello world, this is a longer input that spans more than one prefill chunk of the engine's step budget", "a"];

    [Theory]
    [MemberData(nameof(EmbeddingModels))]
    public async Task EmbeddingsMatchLlamaCpp(ModelSpec spec)
    {
        using var dir = new TempDir();
        string path = TestModels.Write(spec, dir.Path);
        var expected = await LlamaCppEmbeddings(path, Texts);

        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256, MaxSequences = 3 });
        Assert.Equal(spec.Pooling, model.Config.Pooling);
        // A small step budget: the long input is pooled over several chunks, batched with the short ones.
        using var engine = new InferenceEngine(model, new EngineOptions { MaxRunning = 3, StepTokenBudget = 16, TargetStepSeconds = 0 });
        var inputs = Texts.Select(t => model.Tokenize(t)).ToArray();
        Assert.Contains(inputs, i => i.Length > 16);
        var result = await EngineEmbeddings.EmbedAsync(engine, inputs, new EmbeddingOptions(), inFlight: 3);
        Assert.Equal(inputs.Sum(i => i.Length), result.PromptTokens);
        for (int i = 0; i < Texts.Length; i++)
        {
            var (worst, cosine) = Compare(result.Vectors[i], expected[i]);
            output.WriteLine($"{spec} '{Texts[i][..Math.Min(12, Texts[i].Length)]}': max |Δ| {worst:E2}, cosine {cosine:F7}");
            var (maxError, minCosine) = Tolerance(spec);
            Assert.True(worst <= maxError && cosine >= minCosine, $"{spec} input {i}: max |Δ| {worst:E2}, cosine {cosine:F7}");
            Assert.Equal(1.0, Math.Sqrt(result.Vectors[i].Sum(x => (double)x * x)), 4);
        }
        Assert.Equal(model.KvPool.Capacity, model.KvPool.FreeBlocks);
        Assert.True(engine.PeakBatchSequences > 1, "the inputs were computed together");
    }

    [Fact]
    public async Task UnnormalisedIsThePooledStateAndBatchingChangesNothing()
    {
        using var dir = new TempDir();
        var spec = new ModelSpec("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 300, Tied: true, Pooling: PoolingType.Mean);
        string path = TestModels.Write(spec, dir.Path);
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256, MaxSequences = 4 });
        using var engine = new InferenceEngine(model, new EngineOptions { MaxRunning = 4, StepTokenBudget = 16, TargetStepSeconds = 0 });
        var inputs = Enumerable.Range(0, 6).Select(i => TestModels.RandomTokens(spec.Vocab, 5 + 9 * i, i)).ToArray();
        var alone = new List<float[]>();
        foreach (var i in inputs) alone.Add((await EngineEmbeddings.EmbedAsync(engine, [i], new EmbeddingOptions { Normalize = false }, 1)).Vectors[0]);
        var together = await EngineEmbeddings.EmbedAsync(engine, inputs, new EmbeddingOptions { Normalize = false }, inFlight: 4);
        for (int i = 0; i < inputs.Length; i++) Assert.Equal(alone[i], together.Vectors[i]);
        Assert.NotEqual(1.0, Math.Sqrt(alone[0].Sum(x => (double)x * x)), 3);
    }

    [Fact]
    public async Task AGenerativeModelRefusesToEmbedAndAnEmbeddingModelStillGenerates()
    {
        using var dir = new TempDir();
        string plain = TestModels.Write(new ModelSpec(), dir.Path);
        using (var model = Model.Load(plain, new ModelOptions { Threads = 2, Context = 128 }))
        using (var engine = new InferenceEngine(model))
        {
            var e = await Assert.ThrowsAsync<StrataException>(() => EngineEmbeddings.EmbedAsync(engine, [[1, 5, 6]], new EmbeddingOptions(), 1));
            Assert.Contains("not an embedding model", e.Message);
            Assert.Contains("llama.pooling_type", e.Message);
        }
        // Without output.weight the tied embedding stands in for logits, as in llama.cpp.
        string embedding = TestModels.Write(new ModelSpec(Tied: true, Pooling: PoolingType.Last), dir.Path);
        using var m = Model.Load(embedding, new ModelOptions { Threads = 2, Context = 128 });
        var result = new Generator(m).Generate([1, 5, 6], new GenerationOptions { MaxTokens = 4, Sampling = Strata.Sampling.SamplerOptions.Greedy });
        Assert.NotEmpty(result.Tokens);
    }

    [Fact]
    public void PoolingTypesOutsideLlamaCppsEnumAreRefused()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(new ModelSpec(Pooling: (PoolingType)4), dir.Path);
        var e = Assert.ThrowsAny<StrataException>(() => Model.Load(path, new ModelOptions { Threads = 1, Context = 64 }).Dispose());
        Assert.Contains("llama.pooling_type", e.Message);
        Assert.Contains("rank", e.Message);
    }

    internal static async Task<float[][]> LlamaCppEmbeddings(string path, string[] texts)
    {
        LlamaCpp.QuietNativeLog();
        var p = new ModelParams(path) { ContextSize = 256, BatchSize = 256, UBatchSize = 256, Threads = 2, GpuLayerCount = 0, Embeddings = true };
        using var weights = LLamaWeights.LoadFromFile(p);
        using var embedder = new LLamaEmbedder(weights, p);
        var result = new float[texts.Length][];
        for (int i = 0; i < texts.Length; i++) result[i] = Assert.Single(await embedder.GetEmbeddings(texts[i]));
        return result;
    }

    internal static (double MaxError, double Cosine) Compare(float[] a, float[] b)
    {
        Assert.Equal(b.Length, a.Length);
        double worst = 0, dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(a[i] - b[i]));
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return (worst, dot / Math.Sqrt(na * nb));
    }
}
