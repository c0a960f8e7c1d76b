namespace Strata.Models;

/// <summary>How rotary position embedding pairs up the elements of a head (ggml's rope modes).</summary>
public enum RopeStyle
{
    /// <summary>Adjacent pairs (x[2i], x[2i+1]): llama.cpp's normal mode, used by the llama architecture.</summary>
    Normal,
    /// <summary>Halves (x[i], x[i + n/2]): GPT-NeoX style, used by qwen2 and qwen3.</summary>
    Neox,
}

/// <summary>
/// An architecture as data: the tensor-name table and the few switches that tell its blocks apart. The forward pass
/// is shared by all of them; adding an architecture means adding a description, not another forward pass.
/// </summary>
public sealed record Architecture(
    string Name,
    RopeStyle Rope,
    bool AttentionBiases,
    bool QkNorm)
{
    public static readonly Architecture Llama = new("llama", RopeStyle.Normal, AttentionBiases: false, QkNorm: false);
    public static readonly Architecture Qwen2 = new("qwen2", RopeStyle.Neox, AttentionBiases: true, QkNorm: false);
    public static readonly Architecture Qwen3 = new("qwen3", RopeStyle.Neox, AttentionBiases: false, QkNorm: true);

    public static readonly IReadOnlyList<Architecture> All = new[] { Llama, Qwen2, Qwen3 };

    public static Architecture? Find(string name) => All.FirstOrDefault(a => a.Name == name);
}

/// <summary>GGUF tensor names, as llama.cpp names them.</summary>
public static class TensorNames
{
    public const string TokenEmbedding = "token_embd.weight";
    public const string OutputNorm = "output_norm.weight";
    public const string Output = "output.weight";
    public const string RopeFrequencies = "rope_freqs.weight";

    public static string AttnNorm(int layer) => $"blk.{layer}.attn_norm.weight";
    public static string AttnQ(int layer) => $"blk.{layer}.attn_q.weight";
    public static string AttnK(int layer) => $"blk.{layer}.attn_k.weight";
    public static string AttnV(int layer) => $"blk.{layer}.attn_v.weight";
    public static string AttnOutput(int layer) => $"blk.{layer}.attn_output.weight";
    public static string AttnQBias(int layer) => $"blk.{layer}.attn_q.bias";
    public static string AttnKBias(int layer) => $"blk.{layer}.attn_k.bias";
    public static string AttnVBias(int layer) => $"blk.{layer}.attn_v.bias";
    public static string AttnQNorm(int layer) => $"blk.{layer}.attn_q_norm.weight";
    public static string AttnKNorm(int layer) => $"blk.{layer}.attn_k_norm.weight";
    public static string FfnNorm(int layer) => $"blk.{layer}.ffn_norm.weight";
    public static string FfnGate(int layer) => $"blk.{layer}.ffn_gate.weight";
    public static string FfnUp(int layer) => $"blk.{layer}.ffn_up.weight";
    public static string FfnDown(int layer) => $"blk.{layer}.ffn_down.weight";
}

/// <summary>GGUF hyper-parameter keys; "{0}" is the architecture name.</summary>
public static class HParamKeys
{
    public const string Architecture = "general.architecture";
    public const string ContextLength = "{0}.context_length";
    public const string EmbeddingLength = "{0}.embedding_length";
    public const string BlockCount = "{0}.block_count";
    public const string FeedForwardLength = "{0}.feed_forward_length";
    public const string HeadCount = "{0}.attention.head_count";
    public const string HeadCountKv = "{0}.attention.head_count_kv";
    public const string KeyLength = "{0}.attention.key_length";
    public const string ValueLength = "{0}.attention.value_length";
    public const string RmsEpsilon = "{0}.attention.layer_norm_rms_epsilon";
    public const string RopeFreqBase = "{0}.rope.freq_base";
    public const string RopeDimensionCount = "{0}.rope.dimension_count";
    public const string RopeScalingType = "{0}.rope.scaling.type";
    public const string RopeScalingFactor = "{0}.rope.scaling.factor";
    public const string RopeScaleLinear = "{0}.rope.scale_linear";
    public const string VocabSize = "{0}.vocab_size";
    public const string PoolingType = "{0}.pooling_type";
    public const string CausalAttention = "{0}.attention.causal";

    public static string For(string key, string arch) => string.Format(System.Globalization.CultureInfo.InvariantCulture, key, arch);
}
