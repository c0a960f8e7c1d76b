using Strata.Gguf;
using Strata.Tensors;
using Strata.Weights;

namespace Strata.Models;

/// <summary>The weights of one transformer layer. Optional tensors are null when the architecture has none.
/// Norm weights and biases are small and read every token, so they are copied into float arrays at load.</summary>
public sealed record LayerWeights(
    float[] AttnNorm,
    WeightTensor Q, WeightTensor K, WeightTensor V, WeightTensor Output,
    float[]? QBias, float[]? KBias, float[]? VBias,
    float[]? QNorm, float[]? KNorm,
    float[] FfnNorm, WeightTensor Gate, WeightTensor Up, WeightTensor Down);

/// <summary>All weights of a model, looked up by the architecture's tensor-name table and checked against the config.</summary>
public sealed class ModelWeights
{
    public required WeightTensor TokenEmbedding { get; init; }
    public required float[] OutputNorm { get; init; }
    /// <summary>The output projection; the token embedding itself when the model ties them.</summary>
    public required WeightTensor Output { get; init; }
    /// <summary>Per-frequency divisors for rope (llama-3 scaling), or null.</summary>
    public float[]? RopeFactors { get; init; }
    public required LayerWeights[] Layers { get; init; }

    /// <param name="packer">Rearranges the matrices for the kernels; null keeps them as the source has them.</param>
    public static ModelWeights Load(IWeightSource source, ModelConfig c, string sourceName, WeightPacker? packer = null)
    {
        GgufFormatException Bad(string what) => new($"{sourceName}: {what}");

        WeightTensor Need(string name, params long[] shape) =>
            Check(source.TryGet(name) ?? throw Bad($"required tensor '{name}' is missing"), shape);

        // Matrices only ever multiplied (never read row by row) may be repacked.
        WeightTensor Matrix(string name, params long[] shape) => packer is null ? Need(name, shape) : packer.Pack(Need(name, shape));

        WeightTensor? Optional(string name, params long[] shape) =>
            source.TryGet(name) is { } t ? Check(t, shape) : null;

        WeightTensor Check(WeightTensor t, long[] shape)
        {
            if (!t.Shape.SequenceEqual(shape))
                throw Bad($"tensor '{t.Name}' has shape [{string.Join(", ", t.Shape)}], but the hyper-parameters need [{string.Join(", ", shape)}]");
            if (!GgmlTypeInfo.IsSupportedWeight(t.Type))
                throw Bad($"tensor '{t.Name}' has type {GgmlTypeInfo.Name(t.Type)}, which Strata cannot compute with yet");
            return t;
        }

        float[] Vector(string name, long n)
        {
            var t = Need(name, n);
            var values = new float[n];
            Dequantize.Row(t.Type, t.Bytes, values);
            if (values.Any(v => !float.IsFinite(v))) throw Bad($"tensor '{name}' holds non-finite values");
            return values;
        }

        var arch = c.Architecture;
        var layers = new LayerWeights[c.Layers];
        for (int i = 0; i < c.Layers; i++)
        {
            layers[i] = new LayerWeights(
                AttnNorm: Vector(TensorNames.AttnNorm(i), c.Dim),
                Q: Matrix(TensorNames.AttnQ(i), c.Dim, c.QDim),
                K: Matrix(TensorNames.AttnK(i), c.Dim, c.KvDim),
                V: Matrix(TensorNames.AttnV(i), c.Dim, c.KvDim),
                Output: Matrix(TensorNames.AttnOutput(i), c.QDim, c.Dim),
                QBias: arch.AttentionBiases ? Vector(TensorNames.AttnQBias(i), c.QDim) : null,
                KBias: arch.AttentionBiases ? Vector(TensorNames.AttnKBias(i), c.KvDim) : null,
                VBias: arch.AttentionBiases ? Vector(TensorNames.AttnVBias(i), c.KvDim) : null,
                QNorm: arch.QkNorm ? Vector(TensorNames.AttnQNorm(i), c.HeadDim) : null,
                KNorm: arch.QkNorm ? Vector(TensorNames.AttnKNorm(i), c.HeadDim) : null,
                FfnNorm: Vector(TensorNames.FfnNorm(i), c.Dim),
                Gate: Matrix(TensorNames.FfnGate(i), c.Dim, c.FeedForward),
                Up: Matrix(TensorNames.FfnUp(i), c.Dim, c.FeedForward),
                Down: Matrix(TensorNames.FfnDown(i), c.FeedForward, c.Dim));
        }

        var embd = Need(TensorNames.TokenEmbedding, c.Dim, c.VocabSize);
        WeightTensor Pack(WeightTensor t) => packer is null ? t : packer.Pack(t);
        float[]? ropeFactors = null;
        if (source.TryGet(TensorNames.RopeFrequencies) is not null)
        {
            ropeFactors = Vector(TensorNames.RopeFrequencies, c.RopeDims / 2);
            if (ropeFactors.Any(f => !(f > 0) || float.IsInfinity(f))) throw Bad($"tensor '{TensorNames.RopeFrequencies}' holds non-positive factors");
        }
        var output = Optional(TensorNames.Output, c.Dim, c.VocabSize);
        return new ModelWeights
        {
            TokenEmbedding = embd,
            OutputNorm = Vector(TensorNames.OutputNorm, c.Dim),
            // A tied output reuses the embedding's bytes; the embedding itself stays plain for row lookups. An embedding
            // model without an output head needs no logits to embed, so its stand-in is not repacked (no copy made).
            Output = output is not null ? Pack(output) : c.Pooling != PoolingType.None ? embd : Pack(embd),
            RopeFactors = ropeFactors,
            Layers = layers,
        };
    }
}
