using Strata.Kv.Policies;
using Strata.Kv.Replay;

namespace Strata.Tests.Kv;

public class KvReplayTests
{
    private static TraceRequest R(params long[] ids) => new(0, ids.Length * 512, 1, ids);

    [Fact]
    public void PrefixHitsFollowTheCacheByHand()
    {
        // dram=3, LRU: request 2 finds blocks 1 and 2; block 3 (the deepest of request 1) is the one evicted for 4.
        var r = KvReplay.Run([R(1, 2, 3), R(1, 2, 4), R(1, 2, 3), R(5)], ReplayTiers.Parse("dram=3"), "lru");
        Assert.Equal(10, r.Blocks);
        Assert.Equal(2 + 2, r.Hits);           // 1,2 in request 2; 1,2 in request 3 (3 was evicted: the prefix stops)
        Assert.Equal(4, r.HitsByTier["dram"]);
        Assert.Equal(0.4, r.HitRate, 6);
    }

    [Fact]
    public void BlocksEvictedFromDramAreFoundInFarMemory()
    {
        var r = KvReplay.Run([R(1, 2), R(3, 4), R(1, 2)], ReplayTiers.Parse("dram=2,far=2"), "lru");
        Assert.Equal(2, r.Hits);
        Assert.Equal(2, r.HitsByTier["far"]);
        Assert.Equal(0, r.HitsByTier["dram"]);
    }

    [Fact]
    public void AHitNeedsEveryBlockBeforeIt()
    {
        // Block 2 is resident but block 1 is not: neither counts.
        var r = KvReplay.Run([R(1, 2), R(9, 9, 9), R(1, 2)], ReplayTiers.Parse("dram=3"), "lru");
        Assert.Equal(0, r.Hits);
    }

    public static TheoryData<string, string> Workloads => new()
    {
        { "public", "dram=3000" },
        { "public", "dram=10000" },
        { "public", "dram=1000,far=1000,ssd=6000" },
        { "multi-turn", "dram=500" },
        { "shared-system", "dram=200" },
        { "rag", "dram=500" },
        { "mixed", "dram=500" },
        { "mixed", "dram=200,far=200,ssd=600" },
    };

    /// <summary>The default policy must do better than LRU on prefix-cache traffic, and no policy beats the optimum.</summary>
    [Theory]
    [MemberData(nameof(Workloads))]
    public void DefaultPolicyBeatsLruAndNoneBeatsBelady(string workload, string tiers)
    {
        var trace = workload == "public"
            ? MooncakeTrace.Read(ReplayTraces.PublicTracePath())
            : TraceGenerator.Generate(workload, 3000, seed: 7);
        var spec = ReplayTiers.Parse(tiers);
        var lru = KvReplay.Run(trace, spec, "lru");
        var best = KvReplay.Run(trace, spec, EvictionPolicies.Default);
        var arc = KvReplay.Run(trace, spec, "arc");
        Assert.True(best.HitRate > lru.HitRate, $"{EvictionPolicies.Default} {best.HitRate:F4} vs lru {lru.HitRate:F4}");
        Assert.True(arc.HitRate > lru.HitRate, $"arc {arc.HitRate:F4} vs lru {lru.HitRate:F4}");
        foreach (var r in new[] { lru, best, arc })
        {
            Assert.True(r.HitRate <= r.BeladyHitRate + 1e-9, $"{r.Policy} {r.HitRate:F4} above Belady {r.BeladyHitRate:F4}");
            Assert.Equal(r.Hits, r.HitsByTier.Values.Sum());
        }
    }

    [Theory]
    [InlineData("dram=0", "at least one block")]
    [InlineData("dram=10,tape=4", "unknown tier 'tape'")]
    [InlineData("dram=ten", "block count")]
    public void BadTierSpecsAreNamed(string spec, string message)
    {
        var e = Assert.Throws<StrataException>(() => ReplayTiers.Parse(spec));
        Assert.Contains(message, e.Message);
    }
}
