using System.Diagnostics;
using Strata.Kv.Replay;
using Xunit.Abstractions;

namespace Strata.Tests.Kv;

public class ReplayBeladyTests(ITestOutputHelper output)
{
    private static List<TraceRequest> Trace(params long[][] requests) =>
        requests.Select((ids, i) => new TraceRequest(i, ids.Length * 512, 1, ids)).ToList();

    [Fact]
    public void EvictsTheBlockNeededFarthestAheadAndCountsPrefixHitsOnly()
    {
        // C=2. r1 hits 1 and 2. Admitting 3 at r2 evicts 2 (never used again), not 1 (needed at r3): r3 hits 1, 3.
        // LRU would evict 1 (least recent) and r3 would then hit nothing, 3 being after a miss.
        var trace = Trace([1, 2], [1, 2], [3], [1, 3]);
        Assert.Equal(new BeladyResult(2, 4, 7, 4), Belady.Run(trace, 2));
        Assert.Equal(2 / 7.0, ReplayTraces.LruHitRate(trace, 2), 12);
    }

    [Fact]
    public void ABlockNeededLaterThanEveryResidentBypassesTheCache()
    {
        // C=1: 2 is never used again, so it is not admitted and 1 survives to hit at r2.
        Assert.Equal(1, Belady.Run(Trace([1], [2], [1]), 1).Hits);
        Assert.Equal(0, ReplayTraces.LruHitRate(Trace([1], [2], [1]), 1));
    }

    [Fact]
    public void AResidentBlockAfterAMissIsNoHit()
    {
        // C=3: 1, 2, 3 stay resident (4 bypasses), but at r2 block 3 follows the miss on 5.
        var trace = Trace([1, 2, 3], [4], [1, 5, 3]);
        Assert.Equal(1, Belady.Run(trace, 3).Hits);
        Assert.Equal(1, new Belady(trace).InfiniteCacheHits);
    }

    [Fact]
    public void HandCountedHitsAtEachCapacity()
    {
        // Infinite: r1 hits 1,2; r2 hits 1; r3 hits 1,2,3 = 6 of 11.
        // C=2: 3 bypasses at r1 (needed after 1 and 2), so r3 hits 1,2 only: 2+1+2 = 5.
        // C=1: only 1 is ever kept: one hit in each of r1, r2, r3 = 3.
        var b = new Belady(Trace([1, 2], [1, 2, 3], [1, 4], [1, 2, 3, 5]));
        Assert.Equal((4, 11L, 5), (b.RequestCount, b.BlockCount, b.DistinctBlocks));
        Assert.Equal(6, b.InfiniteCacheHits);
        Assert.Equal(6 / 11.0, b.InfiniteCacheHitRate, 12);
        long[] expected = [0, 3, 5, 6, 6, 6];
        for (int c = 0; c < expected.Length; c++) Assert.Equal(expected[c], b.Run(c).Hits);
    }

    [Fact]
    public void ARepeatWithinARequestIsOneBlock()
    {
        // C=1: the first 1 of r0 is carried by the second, whose next use is r1.
        var b = new Belady(Trace([1, 1], [1]));
        Assert.Equal(1, b.Run(1).Hits);
        Assert.Equal(1, b.InfiniteCacheHits);
    }

    [Fact]
    public void AnEmptyTraceHasNoHits()
    {
        var r = Belady.Run([], 10);
        Assert.Equal((0, 0L, 0L, 0.0), (r.Requests, r.Blocks, r.Hits, r.HitRate));
    }

    [Fact]
    public void OnThePublicTraceBeladyBeatsLruStaysUnderTheCeilingAndGrowsWithCapacity()
    {
        var trace = ReplayTraces.Public;
        var belady = new Belady(trace);
        Assert.Equal(121_877, belady.BlockCount);
        Assert.Equal(43_924, belady.DistinctBlocks);
        output.WriteLine($"infinite {belady.InfiniteCacheHitRate:F4}");
        double previous = -1;
        foreach (int capacity in new[] { 0, 100, 1000, 2000, 5000, 10_000, 20_000 })
        {
            var watch = Stopwatch.StartNew();
            var result = belady.Run(capacity);
            watch.Stop();
            double lru = ReplayTraces.LruHitRate(trace, capacity);
            output.WriteLine($"C={capacity}: belady {result.HitRate:F4} lru {lru:F4} ({watch.ElapsedMilliseconds} ms)");
            Assert.True(result.HitRate >= lru, $"C={capacity}: Belady {result.HitRate} < LRU {lru}");
            Assert.True(result.HitRate <= belady.InfiniteCacheHitRate);
            Assert.True(result.HitRate >= previous, $"C={capacity}: {result.HitRate} < {previous} at a smaller capacity");
            // A loose guard against a quadratic slip; the run takes tens of milliseconds.
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"C={capacity} took {watch.Elapsed}");
            previous = result.HitRate;
        }
        Assert.Equal(belady.InfiniteCacheHits, belady.Run(belady.DistinctBlocks).Hits);
    }

    [Theory]
    [MemberData(nameof(ReplayGeneratorTests.Kinds), MemberType = typeof(ReplayGeneratorTests))]
    public void OnGeneratedTracesBeladyBeatsLru(string kind)
    {
        var trace = TraceGenerator.Generate(kind, 2000, 1);
        var belady = new Belady(trace);
        output.WriteLine($"{kind}: {trace.Count} requests, {belady.BlockCount} blocks, {belady.DistinctBlocks} distinct, infinite {belady.InfiniteCacheHitRate:F4}");
        double previous = -1;
        foreach (int capacity in new[] { 1000, 5000, 20_000 })
        {
            var result = belady.Run(capacity);
            double lru = ReplayTraces.LruHitRate(trace, capacity);
            output.WriteLine($"  C={capacity}: belady {result.HitRate:F4} lru {lru:F4}");
            Assert.True(result.HitRate >= lru);
            Assert.True(result.HitRate >= previous && result.HitRate <= belady.InfiniteCacheHitRate);
            previous = result.HitRate;
        }
    }
}
