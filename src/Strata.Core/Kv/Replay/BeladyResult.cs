namespace Strata.Kv.Replay;

/// <summary>Prefix hits of one replay: <see cref="Hits"/> of <see cref="Blocks"/> block lookups.</summary>
public sealed record BeladyResult(long Capacity, int Requests, long Blocks, long Hits)
{
    public double HitRate => Blocks == 0 ? 0 : (double)Hits / Blocks;
}
