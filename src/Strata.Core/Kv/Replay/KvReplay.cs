using Strata.Kv.Policies;
using Strata.Kv.Tiers;

namespace Strata.Kv.Replay;

/// <summary>Capacities in blocks of a replayed cache; 0 leaves a tier out.</summary>
public sealed record ReplayTiers(long Dram, long Far, long Ssd)
{
    public long Total => Dram + Far + Ssd;

    /// <summary>Reads <c>dram=N,far=N,ssd=N</c> (block counts).</summary>
    public static ReplayTiers Parse(string spec)
    {
        long dram = 0, far = 0, ssd = 0;
        foreach (var part in spec.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=');
            if (eq <= 0 || !long.TryParse(part[(eq + 1)..], out long n) || n < 0 || n > int.MaxValue / 2)
                throw new StrataException($"--tiers: '{part}' should be TIER=BLOCKS with a block count (for example dram=1000)");
            switch (part[..eq].Trim().ToLowerInvariant())
            {
                case "dram": dram = n; break;
                case "far": far = n; break;
                case "ssd": ssd = n; break;
                default: throw new StrataException($"--tiers: unknown tier '{part[..eq]}' (tiers: dram, far, ssd)");
            }
        }
        if (dram <= 0) throw new StrataException("--tiers: a dram capacity of at least one block is needed (for example dram=1000)");
        return new ReplayTiers(dram, far, ssd);
    }
}

/// <summary>What a replay measured.</summary>
public sealed record ReplayResult(
    string Policy,
    ReplayTiers Tiers,
    int Requests,
    long Blocks,
    long Hits,
    IReadOnlyDictionary<string, long> HitsByTier,
    long ClippedBlocks,
    double BeladyHitRate,
    double InfiniteHitRate)
{
    public double HitRate => Blocks == 0 ? 0 : (double)Hits / Blocks;
}

/// <summary>
/// Replays a request trace through the real cache — <see cref="KvCacheManager"/>, the DRAM <see cref="KvBlockPool"/>,
/// the tier levels and their policies — with metadata only: each trace hash id is a block key, no bytes move. Requests
/// run one after another; each takes its longest cached prefix, computes (commits) the rest, and lets go, as the
/// engine does. A request needs all its blocks in DRAM at once, so blocks beyond the DRAM capacity count as misses.
/// </summary>
public static class KvReplay
{
    public static ReplayResult Run(IReadOnlyList<TraceRequest> trace, ReplayTiers tiers, string policy = EvictionPolicies.Default,
        KvWriteMode writeMode = KvWriteMode.Through, Action<int, int>? progress = null)
    {
        var layout = new KvLayout(Layers: 1, KvDim: 1, BlockTokens: 1);
        int dram = (int)tiers.Dram;
        var pool = new KvBlockPool(layout, dram, store: null, policy);
        var levels = new List<KvTierLevel>();
        if (tiers.Far > 0) levels.Add(new KvTierLevel(new MetadataKvTier("far", persistent: false), tiers.Far, policy, 0));
        if (tiers.Ssd > 0) levels.Add(new KvTierLevel(new MetadataKvTier("ssd", persistent: true), tiers.Ssd, policy, 0));
        using var cache = new KvCacheManager(layout, default, pool, levels, writeMode);

        var hitsByTier = new Dictionary<string, long> { ["dram"] = 0 };
        foreach (var l in levels) hitsByTier[l.Name] = 0;
        long blocks = 0, hits = 0, clipped = 0;
        for (int r = 0; r < trace.Count; r++)
        {
            var ids = trace[r].HashIds;
            blocks += ids.Length;
            int n = Math.Min(ids.Length, dram);
            clipped += ids.Length - n;
            var keys = new BlockHash[n];
            for (int i = 0; i < n; i++) keys[i] = new BlockHash(0, unchecked((ulong)ids[i]));
            using var seq = cache.NewSequence(n);
            var reuse = cache.AttachKeys(seq, keys, []);
            hits += reuse.Tokens;
            foreach (var (tier, count) in reuse.BlocksByTier) hitsByTier[tier] += count;
            for (int b = seq.CommittedBlocks; b < n; b++)
            {
                seq.Reserve(b + 1);
                seq.Append([0]);
                cache.CommitKey(seq, b, keys[b]);
            }
            progress?.Invoke(r + 1, trace.Count);
        }
        var belady = new Belady(trace);
        return new ReplayResult(pool.PolicyName, tiers, trace.Count, blocks, hits, hitsByTier, clipped,
            belady.Run(tiers.Total).HitRate, belady.InfiniteCacheHitRate);
    }
}
