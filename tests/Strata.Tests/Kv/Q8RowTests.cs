using Strata.Tensors;

namespace Strata.Tests.Kv;

/// <summary>The q8_0 KV cache's attention kernels: SIMD against their scalar twins and against exact sums.</summary>
public class Q8RowTests
{
    private static (float[] Values, byte[] Blocks) Row(Random rng, int n, float scale)
    {
        var v = Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray();
        var b = new byte[n / 32 * 34];
        Q8Row.Quantize(v, b);
        return (v, b);
    }

    /// <summary>The values a row of blocks stands for, in double.</summary>
    private static double[] Dequantized(byte[] blocks)
    {
        var f = new float[blocks.Length / 34 * 32];
        Dequantize.Row(GgmlType.Q8_0, blocks, f);
        return f.Select(x => (double)x).ToArray();
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    [InlineData(128)]
    [InlineData(256)]
    public void DotMatchesScalarTwinAndExactSum(int n)
    {
        var rng = new Random(n);
        for (int trial = 0; trial < 50; trial++)
        {
            var (_, k) = Row(rng, n, trial % 2 == 0 ? 1f : 30f);
            var q = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
            var kv = Dequantized(k);
            double exact = 0, mag = 0;
            for (int i = 0; i < n; i++) { exact += q[i] * kv[i]; mag += Math.Abs(q[i] * kv[i]); }
            float simd = Q8Row.Dot(q, k), scalar = Q8Row.DotScalar(q, k);
            Assert.True(Math.Abs(simd - exact) <= 1e-6 * mag + 1e-6, $"n={n}: simd {simd} vs {exact}");
            Assert.True(Math.Abs(scalar - exact) <= 1e-6 * mag + 1e-6, $"n={n}: scalar {scalar} vs {exact}");
        }
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    [InlineData(160)]
    public void AxpyIsBitIdenticalToScalarTwin(int n)
    {
        var rng = new Random(n);
        for (int trial = 0; trial < 50; trial++)
        {
            var (_, v) = Row(rng, n, 3f);
            var y = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var ys = y.ToArray();
            float a = (float)rng.NextDouble();
            var exact = Dequantized(v).Select((x, i) => y[i] + a * x).ToArray();
            Q8Row.Axpy(a, v, y);
            Q8Row.AxpyScalar(a, v, ys);
            Assert.Equal(ys, y);
            for (int i = 0; i < n; i++) Assert.True(Math.Abs(y[i] - exact[i]) <= 1e-6 * (1 + Math.Abs(exact[i])), $"[{i}] {y[i]} vs {exact[i]}");
        }
    }

    [Fact]
    public void QuantizeWritesGgmlsQ8_0BlocksAndRoundTripsWithinHalfAStep()
    {
        var rng = new Random(3);
        var (x, blocks) = Row(rng, 128, 5f);
        var expected = new byte[blocks.Length];
        Quantize.Row(GgmlType.Q8_0, x, expected);
        Assert.Equal(expected, blocks);
        var back = Dequantized(blocks);
        for (int b = 0; b < 4; b++)
        {
            double step = x.Skip(32 * b).Take(32).Max(Math.Abs) / 127;
            for (int j = 32 * b; j < 32 * b + 32; j++) Assert.True(Math.Abs(back[j] - x[j]) <= 0.5 * step * 1.01, $"[{j}]");
        }
    }

    [Fact]
    public void RowsThatAreNotWholeBlocksAreRejected()
    {
        Assert.Throws<ArgumentException>(() => Q8Row.Dot(new float[48], new byte[51]));
        Assert.Throws<ArgumentException>(() => Q8Row.Axpy(1, new byte[33], new float[32]));
    }
}
