using Strata.Tensors;

namespace Strata.Tests.Tensors;

public class ComputePoolTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void ParallelForCoversEveryIndexOnce(int threads)
    {
        using var pool = new ComputePool(threads);
        foreach (int count in new[] { 1, 2, 3, 5, 100, 1001 })
        {
            var hits = new int[count];
            var seenThreads = new int[threads];
            pool.ParallelFor(count, (s, e, t) =>
            {
                for (int i = s; i < e; i++) Interlocked.Increment(ref hits[i]);
                Interlocked.Increment(ref seenThreads[t]);
            });
            Assert.All(hits, h => Assert.Equal(1, h));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void MatMulEqualsKernelRows(int threads)
    {
        using var pool = new ComputePool(threads);
        foreach (var type in new[] { GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.F16 })
        {
            var k = Kernels.For(type);
            const int cols = 512, rows = 301;
            var w = TestData.RandomRow(type, cols, rows, 17);
            foreach (int n in new[] { 1, 3 })
            {
                int pb = k.PreparedBytes(cols);
                var prep = new byte[pb * n];
                var x = TestData.Gaussian(cols * n, 4);
                for (int b = 0; b < n; b++) k.Prepare(x.AsSpan(b * cols, cols), prep.AsSpan(b * pb, pb));
                var expect = new float[n * rows];
                k.DotRowsBatch(w, cols, prep, n, expect, rows, 0, rows);
                var got = new float[n * rows];
                for (int repeat = 0; repeat < 3; repeat++)
                {
                    Array.Clear(got);
                    pool.MatMul(k, w, rows, cols, prep, n, got, rows);
                    Assert.Equal(expect, got);
                }
            }
        }
    }

    [Fact]
    public void WorkerExceptionReachesCallerAndPoolStaysUsable()
    {
        using var pool = new ComputePool(3);
        var ex = Assert.Throws<InvalidOperationException>(() => pool.ParallelFor(9, (s, e, t) =>
        {
            if (t == 2) throw new InvalidOperationException("boom");
        }));
        Assert.Equal("boom", ex.Message);
        int total = 0;
        pool.ParallelFor(9, (s, e, t) => Interlocked.Add(ref total, e - s));
        Assert.Equal(9, total);
    }

    [Fact]
    public void DisposeStopsThreadsAndRejectsWork()
    {
        var pool = new ComputePool(4);
        pool.ParallelFor(4, (s, e, t) => { });
        pool.Dispose();
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.ParallelFor(4, (s, e, t) => { }));
    }
}
