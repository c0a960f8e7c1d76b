using Microsoft.Extensions.AI;
using Strata.Engine;
using Strata.Extensions.AI;
using Strata.Models;
using Strata.Tests.Engine;
using Strata.Tests.Support;

namespace Strata.Tests.Extensions;

/// <summary>StrataEmbeddingGenerator through Microsoft.Extensions.AI's types, against llama.cpp's embeddings.</summary>
public class StrataEmbeddingGeneratorTests
{
    private static readonly ModelSpec Spec = new("qwen3", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 320, HeadDim: 32, Tied: true, Pooling: PoolingType.Last);

    [Fact]
    public async Task VectorsEqualLlamaCppsWithUsageAndMetadata()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec, dir.Path);
        string[] texts = ["In the beginning", "God created the heaven", "and the earth"];
        var expected = await EmbeddingTests.LlamaCppEmbeddings(path, texts);
        using var generator = new StrataEmbeddingGenerator(new StrataOptions { ModelPath = path, Threads = 2, Context = 128, Parallel = 3 });
        IEmbeddingGenerator<string, Embedding<float>> g = generator;

        var embeddings = await g.GenerateAsync(texts);
        Assert.Equal(texts.Length, embeddings.Count);
        for (int i = 0; i < texts.Length; i++)
        {
            var (worst, cosine) = EmbeddingTests.Compare(embeddings[i].Vector.ToArray(), expected[i]);
            Assert.True(worst <= 1e-3 && cosine >= 0.99999, $"input {i}: max |Δ| {worst:E2}, cosine {cosine:F7}");
            Assert.Equal(Path.GetFileNameWithoutExtension(path), embeddings[i].ModelId);
        }
        Assert.Equal(texts.Sum(t => generator.Model.Tokenize(t).Length), embeddings.Usage!.InputTokenCount);

        var metadata = g.GetService<EmbeddingGeneratorMetadata>()!;
        Assert.Equal("strata", metadata.ProviderName);
        Assert.Equal(Spec.Dim, metadata.DefaultModelDimensions);
        Assert.Same(generator.Model, g.GetService<Model>());

        // Dimensions: the first N components, normalised again.
        var cut = await g.GenerateVectorAsync("In the beginning", new EmbeddingGenerationOptions { Dimensions = 8 });
        Assert.Equal(8, cut.Length);
        Assert.Equal(1.0, Math.Sqrt(cut.ToArray().Sum(x => (double)x * x)), 5);
        await Assert.ThrowsAsync<ArgumentException>(() => g.GenerateAsync(["x"], new EmbeddingGenerationOptions { Dimensions = 65 }));

        // Unnormalised on request: the same direction, its own length.
        var raw = (await g.GenerateVectorAsync("In the beginning", new EmbeddingGenerationOptions { AdditionalProperties = new() { ["normalize"] = false } })).ToArray();
        double norm = Math.Sqrt(raw.Sum(x => (double)x * x));
        Assert.True(Math.Abs(norm - 1) > 1e-3, $"norm {norm}");
        var unit = embeddings[0].Vector.ToArray();
        for (int i = 0; i < raw.Length; i++) Assert.Equal(unit[i], raw[i] / norm, 4);
        await Assert.ThrowsAsync<ArgumentException>(() => g.GenerateAsync(["x"], new EmbeddingGenerationOptions { AdditionalProperties = new() { ["normalize"] = 3 } }));
        using var rawGenerator = new StrataEmbeddingGenerator(new StrataOptions { ModelPath = path, Threads = 2, Context = 128, NormalizeEmbeddings = false });
        Assert.Equal(raw, (await rawGenerator.GenerateVectorAsync("In the beginning")).ToArray());
    }

    [Fact]
    public void AGenerativeModelIsRefusedWhenTheGeneratorIsMade()
    {
        var e = Assert.Throws<StrataException>(() => new StrataEmbeddingGenerator(new StrataOptions { ModelPath = Server.ServerFixture.ModelPath, Threads = 1, Context = 64 }));
        Assert.Contains("not an embedding model", e.Message);
    }

    [Fact]
    public async Task CancellationStopsTheList()
    {
        using var dir = new TempDir();
        using var generator = new StrataEmbeddingGenerator(new StrataOptions { ModelPath = TestModels.Write(Spec, dir.Path), Threads = 2, Context = 128, Parallel = 1 });
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => generator.GenerateAsync(Enumerable.Repeat("some words", 50), cancellationToken: cancel.Token));
        Assert.Equal(new Strata.Engine.Serving.EngineLoad(0, 0), generator.Engine.Load);
        Assert.Equal(generator.Model.KvPool.Capacity, generator.Model.KvPool.FreeBlocks);
    }
}
