using Strata.Engine;
using Strata.Tensors;
using Strata.Tests.Reference;
using Strata.Tests.Support;
using Xunit.Abstractions;

namespace Strata.Tests.Models;

/// <summary>
/// Strata's forward pass against two independent references: a float64 forward pass (logits within 1 % of the
/// logits' standard deviation at every position) and llama.cpp (identical 32-token greedy continuation).
/// </summary>
public class ForwardPassTests(ITestOutputHelper output)
{
    public static TheoryData<ModelSpec> FloatModels => new()
    {
        new ModelSpec("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 1, FeedForward: 96, Vocab: 300, Type: GgmlType.F32),           // GQA 4:1
        new ModelSpec("llama", Dim: 96, Layers: 2, Heads: 3, KvHeads: 3, FeedForward: 160, Vocab: 1000, Type: GgmlType.F16, Tied: true), // 1:1, odd heads, tied
        new ModelSpec("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 128, Vocab: 500, Type: GgmlType.F32, RopeFactors: true, RopeBase: 500000f),
        new ModelSpec("qwen2", Dim: 80, Layers: 2, Heads: 5, KvHeads: 1, FeedForward: 128, Vocab: 400, Type: GgmlType.F16),          // biases, 5:1
        new ModelSpec("qwen3", Dim: 64, Layers: 3, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 320, HeadDim: 32, Type: GgmlType.F32, Tied: true), // q/k norm, key_length
        new ModelSpec("llama", Dim: 128, Layers: 2, Heads: 8, KvHeads: 2, FeedForward: 256, Vocab: 32000, Type: GgmlType.F16),        // 32k vocab
    };

    private static int[] Prompt(int vocab, int n, int seed)
    {
        var rng = new Random(seed);
        var t = new int[n];
        t[0] = 1;
        for (int i = 1; i < n; i++) t[i] = 3 + rng.Next(vocab - 3);
        return t;
    }

    [Theory]
    [MemberData(nameof(FloatModels))]
    public void LogitsMatchFloat64Reference(ModelSpec spec)
    {
        using var dir = new TempDir();
        string path = TestModels.Write(spec, dir.Path);
        var tokens = Prompt(spec.Vocab, 40, spec.Seed);
        var expected = new ReferenceModel(path).Logits(tokens);
        var actual = StrataLogits(path, tokens, batch: 16);
        double worst = MaxRelativeDeviation(actual, expected);
        output.WriteLine($"{spec}: max |strata - f64| / std = {worst:P3}");
        Assert.True(worst < 0.01, $"{spec}: deviation {worst:P3} of the logits' std exceeds 1 %");
    }

    [Theory]
    [MemberData(nameof(FloatModels))]
    public void GreedyContinuationMatchesLlamaCpp(ModelSpec spec)
    {
        using var dir = new TempDir();
        string path = TestModels.Write(spec, dir.Path);
        var prompt = Prompt(spec.Vocab, 12, spec.Seed + 7);
        int[] expected;
        using (var llama = new LlamaCpp(path)) expected = llama.Greedy(prompt, 32);
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256 });
        using var generator = new Generator(model);
        var result = generator.Generate(prompt, new GenerationOptions { MaxTokens = 32, Sampling = Strata.Sampling.SamplerOptions.Greedy });
        // End-of-generation tokens stop Strata; llama.cpp's list continues past them, so compare up to that point.
        Assert.Equal(expected.Take(result.Tokens.Length), result.Tokens);
        if (result.Tokens.Length < 32) Assert.True(model.Tokenizer.Vocabulary.IsEndOfGeneration(expected[result.Tokens.Length]));
    }

    [Fact]
    public void BatchedPrefillEqualsTokenByTokenDecode()
    {
        using var dir = new TempDir();
        var spec = new ModelSpec("qwen2", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 300);
        string path = TestModels.Write(spec, dir.Path);
        var tokens = Prompt(spec.Vocab, 37, 3);
        var batched = StrataLogits(path, tokens, batch: 64);
        var single = StrataLogits(path, tokens, batch: 1);
        Assert.True(MaxRelativeDeviation(batched, single.Select(r => r.Select(x => (double)x).ToArray()).ToArray()) < 1e-4);
    }

    [Fact]
    public void CachedPrefixIsReusedAcrossCalls()
    {
        using var dir = new TempDir();
        var spec = new ModelSpec("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 300);
        string path = TestModels.Write(spec, dir.Path);
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256 });
        var greedy = new GenerationOptions { MaxTokens = 10, Sampling = Strata.Sampling.SamplerOptions.Greedy };
        var first = Prompt(spec.Vocab, 20, 11);

        using var chat = new Generator(model);
        var turn1 = chat.Generate(first, greedy);
        // The second prompt extends the first turn (prompt + answer + more): only the new part is prefilled.
        var second = first.Concat(turn1.Tokens).Concat(Prompt(spec.Vocab, 9, 12).Skip(1)).ToArray();
        var turn2 = chat.Generate(second, greedy);
        // Every full block of turn 1's KV (its prompt and all but the last answer token) is found again.
        int bt = model.KvCache.Layout.BlockTokens;
        Assert.Equal((first.Length + turn1.Tokens.Length - 1) / bt * bt, turn2.CachedTokens);
        Assert.Equal(turn2.CachedTokens / bt, turn2.CacheHitsByTier["dram"]);

        using var fresh = new Generator(model);
        Assert.Equal(fresh.Generate(second, greedy).Tokens, turn2.Tokens);
        // A prompt that diverges early drops the cached tail and still gives the fresh result.
        var other = Prompt(spec.Vocab, 15, 13);
        Assert.Equal(fresh.Generate(other, greedy).Tokens, chat.Generate(other, greedy).Tokens);
    }

    /// <summary>Logits at every position, fed in batches of <paramref name="batch"/>.</summary>
    internal static float[][] StrataLogits(string path, int[] tokens, int batch)
    {
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256, BatchSize = batch });
        int vocab = model.Config.VocabSize;
        var logits = new float[batch * vocab];
        var result = new float[tokens.Length][];
        using var seq = model.NewSequence();
        for (int start = 0; start < tokens.Length; start += batch)
        {
            int n = Math.Min(batch, tokens.Length - start);
            model.Transformer.Forward(tokens.AsSpan(start, n), seq, logits, allLogits: true);
            for (int i = 0; i < n; i++) result[start + i] = logits.AsSpan(i * vocab, vocab).ToArray();
        }
        return result;
    }

    /// <summary>Max over positions of max |a − b| divided by the standard deviation of b's logits at that position.</summary>
    internal static double MaxRelativeDeviation(float[][] a, double[][] b)
    {
        double worst = 0;
        for (int p = 0; p < b.Length; p++)
        {
            double mean = b[p].Average();
            double std = Math.Sqrt(b[p].Select(x => (x - mean) * (x - mean)).Average());
            double maxDiff = 0;
            for (int j = 0; j < b[p].Length; j++) maxDiff = Math.Max(maxDiff, Math.Abs(a[p][j] - b[p][j]));
            worst = Math.Max(worst, maxDiff / std);
        }
        return worst;
    }
}
