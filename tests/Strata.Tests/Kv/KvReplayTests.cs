using Strata.Kv.Replay;
using Xunit.Abstractions;

namespace Strata.Tests.Kv;

public class KvReplayTests(ITestOutputHelper output)
{
    [Fact]
    public void PolicyComparisonOnThePublicTrace()
    {
        var trace = MooncakeTrace.Read(ReplayTraces.PublicTracePath());
        foreach (var t in new[] { "dram=1000", "dram=3000", "dram=5000", "dram=500,far=500,ssd=2000", "dram=1000,ssd=8000" })
        {
            var tiers = ReplayTiers.Parse(t);
            var lru = KvReplay.Run(trace, tiers, "lru");
            var s3 = KvReplay.Run(trace, tiers, "s3fifo");
            output.WriteLine($"{t}: lru {lru.HitRate:F4} s3fifo {s3.HitRate:F4} belady {s3.BeladyHitRate:F4} inf {s3.InfiniteHitRate:F4}");
        }
        foreach (var kind in TraceGenerator.Kinds)
        {
            var g = TraceGenerator.Generate(kind, 4000, 1);
            foreach (var t in new[] { "dram=200", "dram=500", "dram=1000" })
            {
                var tiers = ReplayTiers.Parse(t);
                var lru = KvReplay.Run(g, tiers, "lru");
                var s3 = KvReplay.Run(g, tiers, "s3fifo");
                output.WriteLine($"{kind} {t}: lru {lru.HitRate:F4} s3fifo {s3.HitRate:F4} belady {s3.BeladyHitRate:F4} inf {s3.InfiniteHitRate:F4}");
            }
        }
    }
}
