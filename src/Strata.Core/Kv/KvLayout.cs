namespace Strata.Kv;

/// <summary>
/// Geometry of one KV block: <see cref="BlockTokens"/> consecutive positions of one sequence, for all layers.
/// Row layout inside a block: [layer][K=0 | V=1][slot &lt; BlockTokens], each row <see cref="RowBytes"/> bytes of
/// KvDim values in <see cref="Type"/> (f16 values, or Q8_0 blocks of 32).
/// </summary>
public sealed record KvLayout(int Layers, int KvDim, int BlockTokens, KvType Type = KvType.F16)
{
    public const int DefaultBlockTokens = 16;

    /// <summary>Bytes of one K or V row (KvDim values of one position in one layer).</summary>
    public int RowBytes => KvTypeInfo.RowBytes(Type, KvDim);

    public int BlockBytes => Layers * 2 * BlockTokens * RowBytes;

    /// <summary>Offset (in bytes) of the K (kind 0) or V (kind 1) row of a slot within a block.</summary>
    public int RowOffset(int layer, int kind, int slot) => ((layer * 2 + kind) * BlockTokens + slot) * RowBytes;

    /// <summary>Blocks needed for <paramref name="positions"/> positions.</summary>
    public int BlocksFor(int positions) => (positions + BlockTokens - 1) / BlockTokens;
}
