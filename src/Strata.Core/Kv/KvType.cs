namespace Strata.Kv;

/// <summary>How K and V rows are stored in every tier and read by attention. The values are written into block
/// files' headers: never renumber them.</summary>
public enum KvType
{
    /// <summary>IEEE half floats, 2 bytes a value.</summary>
    F16 = 0,
    /// <summary>ggml's Q8_0 blocks: 32 int8 values and one f16 scale, 34 bytes per 32 values.</summary>
    Q8_0 = 1,
}

public static class KvTypeInfo
{
    /// <summary>Values per Q8_0 block and its bytes (the f16 scale first, then 32 int8).</summary>
    public const int Q8Block = 32, Q8BlockBytes = 34;

    public static IReadOnlyList<string> Names { get; } = ["f16", "q8_0"];

    public static string Name(KvType t) => t switch { KvType.F16 => "f16", KvType.Q8_0 => "q8_0", _ => t.ToString().ToLowerInvariant() };

    public static KvType Parse(string s) => s.ToLowerInvariant() switch
    {
        "f16" => KvType.F16,
        "q8_0" => KvType.Q8_0,
        _ => throw new StrataException($"unknown KV type '{s}': f16 and q8_0 are supported"),
    };

    /// <summary>Bytes of one K or V row of <paramref name="kvDim"/> values.</summary>
    public static int RowBytes(KvType t, int kvDim) => t switch
    {
        KvType.F16 => kvDim * sizeof(ushort),
        KvType.Q8_0 when kvDim % Q8Block == 0 => kvDim / Q8Block * Q8BlockBytes,
        KvType.Q8_0 => throw new ArgumentException($"q8_0 KV rows need a multiple of {Q8Block} values, got {kvDim}"),
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };
}
