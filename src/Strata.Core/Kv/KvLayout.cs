namespace Strata.Kv;

/// <summary>
/// Geometry of one KV block: <see cref="BlockTokens"/> consecutive positions of one sequence, for all layers.
/// Element layout inside a block: [layer][K=0 | V=1][slot &lt; BlockTokens][KvDim], f16.
/// </summary>
public sealed record KvLayout(int Layers, int KvDim, int BlockTokens, KvType Type = KvType.F16)
{
    public const int DefaultBlockTokens = 16;

    /// <summary>f16 elements in one block.</summary>
    public int BlockElements => Layers * 2 * BlockTokens * KvDim;

    public int BlockBytes => BlockElements * sizeof(ushort);

    /// <summary>Offset (in elements) of the K (kind 0) or V (kind 1) row of a slot within a block.</summary>
    public int RowOffset(int layer, int kind, int slot) => ((layer * 2 + kind) * BlockTokens + slot) * KvDim;

    /// <summary>Blocks needed for <paramref name="positions"/> positions.</summary>
    public int BlocksFor(int positions) => (positions + BlockTokens - 1) / BlockTokens;
}
