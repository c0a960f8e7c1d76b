using Strata.Tensors;

namespace Strata.Tests.Tensors;

/// <summary>The interleaved Q4_0 layout and its kernel give the plain kernel's results for every row count and range.</summary>
public class Q4_0x8Tests
{
    private static (byte[] Plain, byte[] Packed, float[] X) Case(int rows, int cols, int seed)
    {
        var plain = TestData.RandomRow(GgmlType.Q4_0, cols, rows, seed);
        var packed = new byte[plain.Length];
        Q4_0x8.Repack(plain, packed, rows, cols);
        return (plain, packed, TestData.Gaussian(cols, seed + 1));
    }

    [Theory]
    [InlineData(8, 32)]
    [InlineData(9, 64)]
    [InlineData(15, 256)]
    [InlineData(16, 2048)]
    [InlineData(40, 96)]
    [InlineData(67, 512)]
    public void MatchesThePlainKernel(int rows, int cols)
    {
        var (plain, packed, x) = Case(rows, cols, rows * 1000 + cols);
        var plainKernel = Kernels.For(GgmlType.Q4_0);
        var packedKernel = Kernels.For(GgmlType.Q4_0, WeightLayout.Interleaved8);
        var p = new byte[plainKernel.PreparedBytes(cols)];
        plainKernel.Prepare(x, p);
        var expected = new float[rows];
        plainKernel.DotRows(plain, cols, p, expected, 0, rows);
        foreach (bool scalar in new[] { false, true })
        {
            Kernels.ForceScalar = scalar;
            try
            {
                var actual = new float[rows];
                packedKernel.DotRows(packed, cols, p, actual, 0, rows);
                for (int r = 0; r < rows; r++)
                    Assert.True(Math.Abs(actual[r] - expected[r]) <= 1e-5f * (1 + Math.Abs(expected[r])), $"row {r} scalar={scalar}: {actual[r]} vs {expected[r]}");
            }
            finally { Kernels.ForceScalar = false; }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void BatchesThroughThePoolMatchThePlainKernel(int threads)
    {
        const int rows = 203, cols = 256, n = 3;
        var (plain, packed, _) = Case(rows, cols, 77);
        var plainKernel = Kernels.For(GgmlType.Q4_0);
        var packedKernel = Kernels.For(GgmlType.Q4_0, WeightLayout.Interleaved8);
        int pb = plainKernel.PreparedBytes(cols);
        var p = new byte[pb * n];
        for (int b = 0; b < n; b++) plainKernel.Prepare(TestData.Gaussian(cols, 100 + b), p.AsSpan(b * pb, pb));
        using var pool = new ComputePool(threads);
        var expected = new float[n * rows];
        var actual = new float[n * rows];
        pool.MatMul(plainKernel, plain, rows, cols, p, n, expected, rows);
        pool.MatMul(packedKernel, packed, rows, cols, p, n, actual, rows);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-5f * (1 + Math.Abs(expected[i])), $"{i}: {actual[i]} vs {expected[i]}");
        // Single activation rows (decode) go through DotRows.
        var one = new float[rows];
        pool.MatMul(packedKernel, packed, rows, cols, p.AsSpan(0, pb), 1, one, rows);
        for (int r = 0; r < rows; r++) Assert.True(Math.Abs(one[r] - expected[r]) <= 1e-5f * (1 + Math.Abs(expected[r])));
    }

    [Fact]
    public void RepackKeepsTheTailRowsPlain()
    {
        var (plain, packed, _) = Case(13, 64, 5);
        long rb = GgmlTypeInfo.RowBytes(GgmlType.Q4_0, 64);
        Assert.Equal(plain.AsSpan((int)(8 * rb)).ToArray(), packed.AsSpan((int)(8 * rb)).ToArray());
        Assert.NotEqual(plain.AsSpan(0, (int)(8 * rb)).ToArray(), packed.AsSpan(0, (int)(8 * rb)).ToArray());
    }
}
