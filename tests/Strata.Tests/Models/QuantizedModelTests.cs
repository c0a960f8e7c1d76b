using Strata.Tensors;
using Strata.Tests.Reference;
using Strata.Tests.Support;
using Xunit.Abstractions;

namespace Strata.Tests.Models;

/// <summary>
/// Quantized models: Strata's max deviation from the float64 reference (on the dequantized weights) must be no larger
/// than 1.5× llama.cpp's own deviation on the same model and tokens.
/// </summary>
public class QuantizedModelTests(ITestOutputHelper output)
{
    public static TheoryData<ModelSpec> QuantModels => new()
    {
        new ModelSpec("llama", Dim: 128, Layers: 2, Heads: 4, KvHeads: 1, FeedForward: 256, Vocab: 512, Type: GgmlType.Q8_0),
        new ModelSpec("qwen2", Dim: 128, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 256, Vocab: 512, Type: GgmlType.Q4_0),
        new ModelSpec("qwen3", Dim: 256, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 512, Vocab: 600, Type: GgmlType.Q4_K, Tied: true),
        new ModelSpec("llama", Dim: 256, Layers: 2, Heads: 8, KvHeads: 2, FeedForward: 512, Vocab: 700, Type: GgmlType.Q6_K),
        new ModelSpec("llama", Dim: 256, Layers: 2, Heads: 4, KvHeads: 4, FeedForward: 512, Vocab: 400, Type: GgmlType.Q5_K),
        new ModelSpec("llama", Dim: 256, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 512, Vocab: 400, Type: GgmlType.Q4_1),
        new ModelSpec("llama", Dim: 256, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 512, Vocab: 400, Type: GgmlType.Q5_0),
        new ModelSpec("llama", Dim: 256, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 512, Vocab: 400, Type: GgmlType.Q5_1),
        new ModelSpec("llama", Dim: 256, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 512, Vocab: 400, Type: GgmlType.Q2_K),
        new ModelSpec("llama", Dim: 256, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 512, Vocab: 400, Type: GgmlType.Q3_K),
        new ModelSpec("llama", Dim: 256, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 512, Vocab: 400, Type: GgmlType.BF16),
    };

    [Theory]
    [MemberData(nameof(QuantModels))]
    public void DeviationWithinOneAndAHalfTimesLlamaCpp(ModelSpec spec)
    {
        using var dir = new TempDir();
        string path = TestModels.Write(spec, dir.Path);
        var rng = new Random(spec.Seed);
        var tokens = new[] { 1 }.Concat(Enumerable.Range(0, 31).Select(_ => 3 + rng.Next(spec.Vocab - 3))).ToArray();
        var reference = new ReferenceModel(path).Logits(tokens);
        var strata = ForwardPassTests.StrataLogits(path, tokens, batch: 32);
        float[][] llama;
        using (var l = new LlamaCpp(path)) llama = l.Logits(tokens);
        double ours = ForwardPassTests.MaxRelativeDeviation(strata, reference);
        double theirs = ForwardPassTests.MaxRelativeDeviation(llama, reference);
        output.WriteLine($"{spec}: strata {ours:P3}, llama.cpp {theirs:P3} of the logits' std (ratio {ours / theirs:F2})");
        Assert.True(ours <= 1.5 * theirs, $"{spec}: Strata deviates {ours:P3}, llama.cpp {theirs:P3}");
    }
}
