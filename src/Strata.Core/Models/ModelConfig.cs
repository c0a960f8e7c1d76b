using Strata.Gguf;

namespace Strata.Models;

/// <summary>
/// How an embedding model turns its per-token hidden states into one vector (GGUF <c>&lt;arch&gt;.pooling_type</c>,
/// numbered as llama.cpp's <c>llama_pooling_type</c>). <see cref="None"/>: a generative model, no embedding.
/// </summary>
public enum PoolingType { None = 0, Mean = 1, Cls = 2, Last = 3 }

/// <summary>The hyper-parameters of a decoder-only transformer, read from GGUF metadata and checked for consistency.</summary>
public sealed record ModelConfig
{
    public required Architecture Architecture { get; init; }
    public required int Dim { get; init; }
    public required int Layers { get; init; }
    public required int FeedForward { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int VocabSize { get; init; }
    public required int ContextLength { get; init; }
    public required float RmsEpsilon { get; init; }
    public required float RopeFreqBase { get; init; }
    /// <summary>Elements of each head that are rotated (llama.cpp's n_rot); the rest pass unchanged.</summary>
    public required int RopeDims { get; init; }
    /// <summary>Position multiplier from linear rope scaling (1 / factor); 1 when unscaled.</summary>
    public required float RopeFreqScale { get; init; }
    /// <summary>Set for embedding models: how their hidden states are pooled into one vector.</summary>
    public PoolingType Pooling { get; init; }

    public int QDim => Heads * HeadDim;
    public int KvDim => KvHeads * HeadDim;
    /// <summary>Query heads that share one key/value head (grouped-query attention).</summary>
    public int GroupSize => Heads / KvHeads;

    public static ModelConfig FromGguf(GgufFile file)
    {
        var m = file.Metadata;
        string source = Path.GetFileName(file.Path);
        string archName = m.TryGetString(HParamKeys.Architecture)
            ?? throw new GgufFormatException($"{source}: required metadata key 'general.architecture' is missing");
        var arch = Architecture.Find(archName)
            ?? throw new GgufFormatException($"{source}: architecture '{archName}' is not supported (supported: {string.Join(", ", Architecture.All.Select(a => a.Name))})");
        string K(string key) => HParamKeys.For(key, archName);
        GgufFormatException Bad(string what) => new($"{source}: {what}");

        int Positive(string key, int? fallback = null)
        {
            var v = m.TryGet(K(key));
            if (v?.Value is GgufArray) throw Bad($"'{K(key)}' is a per-layer array; Strata needs one value for all layers");
            uint? x = m.TryGetUInt32(K(key));
            if (x is null)
            {
                if (fallback is int f) return f;
                throw Bad($"required metadata key '{K(key)}' is missing");
            }
            if (x == 0 || x > 1 << 24) throw Bad($"'{K(key)}' = {x} is out of range");
            return (int)x;
        }

        int dim = Positive(HParamKeys.EmbeddingLength);
        int layers = Positive(HParamKeys.BlockCount);
        int ff = Positive(HParamKeys.FeedForwardLength);
        int heads = Positive(HParamKeys.HeadCount);
        int kvHeads = Positive(HParamKeys.HeadCountKv, heads);
        if (heads % kvHeads != 0) throw Bad($"head_count {heads} is not a multiple of head_count_kv {kvHeads}");
        if (m.Contains(K(HParamKeys.KeyLength)) is false && dim % heads != 0)
            throw Bad($"embedding_length {dim} is not divisible by head_count {heads} and no key_length is given");
        int headDim = Positive(HParamKeys.KeyLength, dim / heads);
        int valueDim = Positive(HParamKeys.ValueLength, headDim);
        if (valueDim != headDim) throw Bad($"value_length {valueDim} differs from key_length {headDim}; Strata needs them equal");
        if (headDim % 2 != 0) throw Bad($"head size {headDim} is odd; rotary embedding needs it even");
        int ropeDims = Positive(HParamKeys.RopeDimensionCount, headDim);
        if (ropeDims > headDim || ropeDims % 2 != 0) throw Bad($"rope.dimension_count {ropeDims} must be even and at most the head size {headDim}");

        var tokenEmbd = file.FindTensor(TensorNames.TokenEmbedding)
            ?? throw Bad($"required tensor '{TensorNames.TokenEmbedding}' is missing");
        if (tokenEmbd.Shape.Length != 2) throw Bad($"tensor '{TensorNames.TokenEmbedding}' has shape {tokenEmbd.ShapeText}, expected 2 dimensions");
        int vocab = m.TryGetUInt32(K(HParamKeys.VocabSize)) is uint vs ? (int)vs : (int)Math.Min(tokenEmbd.Shape[1], int.MaxValue);

        float eps = m.TryGetFloat32(K(HParamKeys.RmsEpsilon)) ?? throw Bad($"required metadata key '{K(HParamKeys.RmsEpsilon)}' is missing");
        if (!(eps > 0 && eps < 1)) throw Bad($"'{K(HParamKeys.RmsEpsilon)}' = {eps} is out of range");
        float freqBase = m.TryGetFloat32(K(HParamKeys.RopeFreqBase)) ?? 10000f;
        if (!(freqBase > 1)) throw Bad($"'{K(HParamKeys.RopeFreqBase)}' = {freqBase} is out of range");

        float freqScale = 1f;
        string scaling = m.TryGetString(K(HParamKeys.RopeScalingType)) ?? "none";
        float? factor = m.TryGetFloat32(K(HParamKeys.RopeScalingFactor)) ?? m.TryGetFloat32(K(HParamKeys.RopeScaleLinear));
        switch (scaling)
        {
            case "none":
                break;
            case "linear":
                if (factor is float f && f > 0) freqScale = 1f / f;
                break;
            default:
                // llama3-style scaling arrives as rope_freqs.weight; YaRN and others change attention itself.
                throw Bad($"rope scaling type '{scaling}' is not supported (supported: none, linear, and rope_freqs.weight factors)");
        }

        int context = Positive(HParamKeys.ContextLength, 2048);
        var pooling = ReadPooling(m, K(HParamKeys.PoolingType), Bad);
        // Embedding models of these architectures attend causally, as the forward pass does; a bidirectional one would
        // give other vectors, so it is refused rather than computed wrongly.
        if (m.TryGetBool(K(HParamKeys.CausalAttention)) == false)
            throw Bad($"'{K(HParamKeys.CausalAttention)}' is false: Strata computes causal attention only");

        return new ModelConfig
        {
            Architecture = arch,
            Dim = dim,
            Layers = layers,
            FeedForward = ff,
            Heads = heads,
            KvHeads = kvHeads,
            HeadDim = headDim,
            VocabSize = vocab,
            ContextLength = context,
            RmsEpsilon = eps,
            RopeFreqBase = freqBase,
            RopeDims = ropeDims,
            RopeFreqScale = freqScale,
            Pooling = pooling,
        };
    }

    private static PoolingType ReadPooling(GgufMetadata m, string key, Func<string, GgufFormatException> bad)
    {
        // Any integer width is accepted; -1 (llama.cpp's "unspecified") reads as none, as in llama.cpp.
        int? value = m.TryGetInt32(key);
        return value switch
        {
            null or -1 or 0 => PoolingType.None,
            1 => PoolingType.Mean,
            2 => PoolingType.Cls,
            3 => PoolingType.Last,
            4 => throw bad($"'{key}' = 4 (rank) is a reranker's pooling, which Strata does not compute"),
            _ => throw bad($"'{key}' = {value} is not a pooling type (1 mean, 2 cls, 3 last)"),
        };
    }
}
