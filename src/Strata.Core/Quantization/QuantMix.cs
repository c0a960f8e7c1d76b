using System.Globalization;
using System.Text.RegularExpressions;
using Strata.Tensors;

namespace Strata.Quantization;

/// <summary>
/// A quantization recipe as llama.cpp's quantize names it: a default tensor type, the llama_ftype number stored as
/// general.file_type, and the per-tensor rules of llama.cpp's llama_tensor_get_type (K-quant mixes give attn_v and
/// ffn_down more bits on some layers; the output projection gets Q6_K; rows that do not fit a type's block fall back).
/// </summary>
public sealed partial record QuantMix(string Name, GgmlType DefaultType, uint FileType, string Description)
{
    public static readonly IReadOnlyList<QuantMix> All =
    [
        new("Q8_0", GgmlType.Q8_0, 7, "8.5 bits per weight, nearly lossless"),
        new("Q4_0", GgmlType.Q4_0, 2, "4.5 bpw, symmetric 32-blocks"),
        new("Q4_1", GgmlType.Q4_1, 3, "5 bpw, 32-blocks with a minimum"),
        new("Q5_0", GgmlType.Q5_0, 8, "5.5 bpw, symmetric 32-blocks"),
        new("Q5_1", GgmlType.Q5_1, 9, "6 bpw, 32-blocks with a minimum"),
        new("Q4_K", GgmlType.Q4_K, 14, "Q4_K everywhere but the output (= llama.cpp's Q4_K_S)"),
        new("Q4_K_S", GgmlType.Q4_K, 14, "llama.cpp's Q4_K_S: Q4_K, attn_v of the first 4 and ffn_down of the first 1/8 layers Q5_K"),
        new("Q4_K_M", GgmlType.Q4_K, 15, "Q4_K, with attn_v and ffn_down Q6_K on the first and last 1/8 and every third layer"),
        new("Q5_K", GgmlType.Q5_K, 16, "Q5_K everywhere but the output (= llama.cpp's Q5_K_S)"),
        new("Q5_K_S", GgmlType.Q5_K, 16, "llama.cpp's Q5_K_S"),
        new("Q5_K_M", GgmlType.Q5_K, 17, "Q5_K, with attn_v and ffn_down Q6_K on the first and last 1/8 and every third layer"),
        new("Q6_K", GgmlType.Q6_K, 18, "6.56 bpw"),
    ];

    public static QuantMix? Find(string name) => All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase));

    private bool Is(uint ftype) => FileType == ftype;
    private const uint Q4KS = 14, Q4KM = 15, Q5KM = 17;

    /// <summary>Whether a tensor is quantized at all (llama.cpp: 2-D+ weights, not norms); others are copied as they are.</summary>
    public static bool Quantizes(string name, int dims) =>
        name.EndsWith("weight", StringComparison.Ordinal) && dims >= 2 && !name.Contains("_norm.weight", StringComparison.Ordinal);

    /// <summary>
    /// The type for one quantized tensor. <paramref name="cols"/> is its row length; <paramref name="layers"/> the block
    /// count; <paramref name="attnVCount"/> how many attn_v tensors the model has; <paramref name="hasOutput"/> whether
    /// it has its own output.weight (else token_embd doubles as the output and is treated as it).
    /// </summary>
    public GgmlType TypeFor(string name, long cols, int layers, int attnVCount, bool hasOutput)
    {
        static bool UseMoreBits(int i, int n) => i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
        int layer = LayerOf(name);
        var type = DefaultType;
        if (name == "output.weight" || (!hasOutput && name == "token_embd.weight"))
        {
            if (cols % GgmlTypeInfo.BlockSize(DefaultType) != 0) type = GgmlType.Q8_0;
            else if (DefaultType != GgmlType.Q8_0) type = GgmlType.Q6_K;
        }
        else if (name.Contains("attn_v.weight", StringComparison.Ordinal))
        {
            if ((Is(Q4KM) || Is(Q5KM)) && UseMoreBits(layer, attnVCount)) type = GgmlType.Q6_K;
            else if (Is(Q4KS) && layer < 4) type = GgmlType.Q5_K;
        }
        else if (name.Contains("ffn_down", StringComparison.Ordinal))
        {
            if ((Is(Q4KM) || Is(Q5KM)) && UseMoreBits(layer, layers)) type = GgmlType.Q6_K;
            else if (Is(Q4KS) && layer < layers / 8) type = GgmlType.Q5_K;
        }

        if (cols % GgmlTypeInfo.BlockSize(type) != 0)
        {
            type = type switch
            {
                GgmlType.Q4_K => GgmlType.Q5_0,
                GgmlType.Q5_K => GgmlType.Q5_1,
                GgmlType.Q6_K => GgmlType.Q8_0,
                _ => GgmlType.F16, // llama.cpp gives up here; F16 keeps the model usable
            };
            if (cols % GgmlTypeInfo.BlockSize(type) != 0) type = GgmlType.F16;
        }
        return type;
    }

    private static int LayerOf(string name)
    {
        var m = LayerRegex().Match(name);
        return m.Success ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    [GeneratedRegex(@"^blk\.(\d+)\.")]
    private static partial Regex LayerRegex();
}
