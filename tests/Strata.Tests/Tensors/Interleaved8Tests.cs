using Strata.Tensors;

namespace Strata.Tests.Tensors;

/// <summary>The interleaved layouts (every quantized type) and their kernels give the plain kernels' results for every row count and range.</summary>
public class Interleaved8Tests
{
    private static void Repack(GgmlType type, byte[] plain, byte[] packed, int rows, int cols) =>
        Strata.Weights.WeightPacker.Repack(type, plain, packed, rows, cols);

    private static (byte[] Plain, byte[] Packed, float[] X) Case(GgmlType type, int rows, int cols, int seed)
    {
        var plain = TestData.RandomRow(type, cols, rows, seed);
        var packed = new byte[plain.Length];
        Repack(type, plain, packed, rows, cols);
        return (plain, packed, TestData.Gaussian(cols, seed + 1));
    }

    // Plain and interleaved sum the same exact integers per block; only the float accumulation order differs.
    private static bool Close(float a, float b) => Math.Abs(a - b) <= 2e-5f * (1 + Math.Abs(b));

    [Theory]
    [InlineData(GgmlType.Q4_0, 8, 32)]
    [InlineData(GgmlType.Q4_0, 9, 64)]
    [InlineData(GgmlType.Q4_0, 15, 256)]
    [InlineData(GgmlType.Q4_0, 16, 2048)]
    [InlineData(GgmlType.Q4_0, 40, 96)]
    [InlineData(GgmlType.Q4_0, 67, 512)]
    [InlineData(GgmlType.Q8_0, 8, 32)]
    [InlineData(GgmlType.Q8_0, 19, 2048)]
    [InlineData(GgmlType.Q4_1, 8, 32)]
    [InlineData(GgmlType.Q4_1, 21, 416)]
    [InlineData(GgmlType.Q5_0, 8, 32)]
    [InlineData(GgmlType.Q5_0, 19, 2048)]
    [InlineData(GgmlType.Q5_1, 9, 64)]
    [InlineData(GgmlType.Q5_1, 40, 416)]
    [InlineData(GgmlType.Q5_K, 8, 256)]
    [InlineData(GgmlType.Q5_K, 19, 512)]
    [InlineData(GgmlType.Q6_K, 8, 256)]
    [InlineData(GgmlType.Q6_K, 23, 768)]
    [InlineData(GgmlType.Q4_K, 8, 256)]
    [InlineData(GgmlType.Q4_K, 9, 512)]
    [InlineData(GgmlType.Q4_K, 16, 2048)]
    [InlineData(GgmlType.Q2_K, 8, 256)]
    [InlineData(GgmlType.Q2_K, 19, 1024)]
    [InlineData(GgmlType.Q3_K, 8, 256)]
    [InlineData(GgmlType.Q3_K, 23, 768)]
    [InlineData(GgmlType.Q3_K, 16, 2048)]
    [InlineData(GgmlType.Q4_K, 23, 768)]
    [InlineData(GgmlType.Q4_K, 67, 256)]
    public void MatchesThePlainKernel(GgmlType type, int rows, int cols)
    {
        var (plain, packed, x) = Case(type, rows, cols, rows * 1000 + cols);
        var plainKernel = Kernels.For(type);
        var packedKernel = Kernels.For(type, WeightLayout.Interleaved8);
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
                    Assert.True(Close(actual[r], expected[r]), $"row {r} scalar={scalar}: {actual[r]} vs {expected[r]}");
            }
            finally { Kernels.ForceScalar = false; }
        }
    }

    /// <summary>Extreme quants and activations: the int16 partial sums must not saturate.</summary>
    /// (All activations -1 quantize to -128 each: with the largest quants every int16 pair sum is at its bound.)
    [Theory]
    [InlineData(GgmlType.Q4_K, false)]
    [InlineData(GgmlType.Q5_K, false)]
    [InlineData(GgmlType.Q4_K, true)]
    [InlineData(GgmlType.Q5_K, true)]
    [InlineData(GgmlType.Q6_K, false)]
    [InlineData(GgmlType.Q6_K, true)]
    [InlineData(GgmlType.Q5_0, false)]
    [InlineData(GgmlType.Q5_0, true)]
    [InlineData(GgmlType.Q5_1, false)]
    [InlineData(GgmlType.Q5_1, true)]
    [InlineData(GgmlType.Q4_1, true)]
    [InlineData(GgmlType.Q2_K, false)]
    [InlineData(GgmlType.Q2_K, true)]
    [InlineData(GgmlType.Q3_K, false)]
    [InlineData(GgmlType.Q3_K, true)]
    public void ExtremesDoNotOverflow(GgmlType type, bool allNegative)
    {
        const int rows = 8, cols = 512;
        var x = new float[cols];
        for (int i = 0; i < cols; i++) x[i] = allNegative || i % 3 == 0 ? -1f : 1f;
        var w = new float[rows * cols];
        bool block32 = GgmlTypeInfo.BlockSize(type) == 32;
        for (int i = 0; i < w.Length; i++)
            w[i] = block32
                // one sign first in each block, then the other: Q5_0's quants are 31 after the first, Q4_1/Q5_1's 15/31 in odd rows
                ? (i % 32 == 0 ? 1f : -1f) * (i / cols % 2 == 0 ? 1f : -1f)
                : (i / cols % 2 == 0 ? 1f : -1f) * (i % 7 == 0 ? 0.01f : 1f);
        var plain = new byte[rows * GgmlTypeInfo.RowBytes(type, cols)];
        for (int r = 0; r < rows; r++)
            Quantize.Row(type, w.AsSpan(r * cols, cols), plain.AsSpan((int)(r * GgmlTypeInfo.RowBytes(type, cols))));
        var packed = new byte[plain.Length];
        Strata.Weights.WeightPacker.Repack(type, plain, packed, rows, cols);
        var k = Kernels.For(type);
        int pb = k.PreparedBytes(cols);
        var p = new byte[pb];
        k.Prepare(x, p);
        var expected = new float[rows];
        var actual = new float[rows];
        k.DotRows(plain, cols, p, expected, 0, rows);
        // One token and the same row as tiles of 4 and 8 tokens, each on the AVX2 path too (its sums stay narrow in int16).
        var four = new byte[4 * pb];
        for (int t = 0; t < 4; t++) p.CopyTo(four, t * pb);
        var eight = new byte[8 * pb];
        for (int t = 0; t < 8; t++) p.CopyTo(eight, t * pb);
        foreach (bool noVnni in new[] { false, true })
        {
            Kernels.ForceNoVnni = noVnni;
            try
            {
                Kernels.For(type, WeightLayout.Interleaved8).DotRows(packed, cols, p, actual, 0, rows);
                for (int r = 0; r < rows; r++) Assert.True(Close(actual[r], expected[r]), $"row {r} noVnni={noVnni}: {actual[r]} vs {expected[r]}");
                var tile = new float[4 * rows];
                Kernels.For(type, WeightLayout.Interleaved8).DotRowsBatch(packed, cols, four, 4, tile, rows, 0, rows);
                for (int i = 0; i < tile.Length; i++)
                    Assert.True(Close(tile[i], expected[i % rows]), $"token {i / rows} row {i % rows} noVnni={noVnni}: {tile[i]} vs {expected[i % rows]}");
                var tile8 = new float[8 * rows];
                Kernels.For(type, WeightLayout.Interleaved8).DotRowsBatch(packed, cols, eight, 8, tile8, rows, 0, rows);
                for (int i = 0; i < tile8.Length; i++)
                    Assert.True(tile8[i] == tile[i % (4 * rows)], $"8-token tile, token {i / rows} row {i % rows} noVnni={noVnni}: {tile8[i]} vs the 4-token tile's {tile[i % (4 * rows)]}");
            }
            finally { Kernels.ForceNoVnni = false; }
        }
    }

    [Theory]
    [InlineData(GgmlType.Q4_0, 1)]
    [InlineData(GgmlType.Q4_0, 2)]
    [InlineData(GgmlType.Q4_0, 3)]
    [InlineData(GgmlType.Q5_0, 2)]
    [InlineData(GgmlType.Q4_1, 3)]
    [InlineData(GgmlType.Q8_0, 2)]
    [InlineData(GgmlType.Q4_K, 1)]
    [InlineData(GgmlType.Q4_K, 3)]
    public void BatchesThroughThePoolMatchThePlainKernel(GgmlType type, int threads)
    {
        const int rows = 203, cols = 256, n = 3;
        var (plain, packed, _) = Case(type, rows, cols, 77);
        var plainKernel = Kernels.For(type);
        var packedKernel = Kernels.For(type, WeightLayout.Interleaved8);
        int pb = plainKernel.PreparedBytes(cols);
        var p = new byte[pb * n];
        for (int b = 0; b < n; b++) plainKernel.Prepare(TestData.Gaussian(cols, 100 + b), p.AsSpan(b * pb, pb));
        using var pool = new ComputePool(threads);
        var expected = new float[n * rows];
        var actual = new float[n * rows];
        pool.MatMul(plainKernel, plain, rows, cols, p, n, expected, rows);
        pool.MatMul(packedKernel, packed, rows, cols, p, n, actual, rows);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Close(actual[i], expected[i]), $"{i}: {actual[i]} vs {expected[i]}");
        // Single activation rows (decode) go through DotRows.
        var one = new float[rows];
        pool.MatMul(packedKernel, packed, rows, cols, p.AsSpan(0, pb), 1, one, rows);
        for (int r = 0; r < rows; r++) Assert.True(Close(one[r], expected[r]));
    }

    /// <summary>Batches of several tokens go through the tile kernels (4 tokens per pass) and the per-token tail.</summary>
    [Theory]
    [InlineData(GgmlType.Q4_0, 4, 24, 64)]
    [InlineData(GgmlType.Q4_0, 9, 35, 2048)]
    [InlineData(GgmlType.Q4_K, 4, 16, 256)]
    [InlineData(GgmlType.Q4_K, 11, 27, 768)]
    [InlineData(GgmlType.Q8_0, 4, 24, 64)]
    [InlineData(GgmlType.Q8_0, 13, 43, 2048)]
    [InlineData(GgmlType.Q5_K, 4, 16, 256)]
    [InlineData(GgmlType.Q5_K, 7, 35, 1024)]
    [InlineData(GgmlType.Q5_K, 19, 21, 512)]
    [InlineData(GgmlType.Q6_K, 4, 16, 256)]
    [InlineData(GgmlType.Q6_K, 9, 29, 2048)]
    [InlineData(GgmlType.Q6_K, 21, 24, 256)]
    [InlineData(GgmlType.Q4_K, 21, 24, 512)]
    [InlineData(GgmlType.Q4_1, 4, 16, 64)]
    [InlineData(GgmlType.Q4_1, 9, 35, 416)]
    [InlineData(GgmlType.Q5_0, 4, 24, 32)]
    [InlineData(GgmlType.Q5_0, 13, 43, 2048)]
    [InlineData(GgmlType.Q5_1, 7, 16, 256)]
    [InlineData(GgmlType.Q5_1, 21, 29, 416)]
    [InlineData(GgmlType.Q2_K, 4, 16, 256)]
    [InlineData(GgmlType.Q2_K, 9, 35, 2048)]
    [InlineData(GgmlType.Q3_K, 4, 24, 256)]
    [InlineData(GgmlType.Q3_K, 13, 19, 1024)]
    public void TilesOfTokensMatchThePlainKernel(GgmlType type, int n, int rows, int cols)
    {
        var (plain, packed, _) = Case(type, rows, cols, n * 31 + rows);
        var plainKernel = Kernels.For(type);
        var packedKernel = Kernels.For(type, WeightLayout.Interleaved8);
        int pb = plainKernel.PreparedBytes(cols);
        var p = new byte[pb * n];
        for (int b = 0; b < n; b++) plainKernel.Prepare(TestData.Gaussian(cols, 300 + b), p.AsSpan(b * pb, pb));
        var expected = new float[n * rows];
        plainKernel.DotRowsBatch(plain, cols, p, n, expected, rows, 0, rows);
        foreach (var (scalar, noVnni) in new[] { (false, false), (false, true), (true, false) })
        {
            Kernels.ForceScalar = scalar;
            Kernels.ForceNoVnni = noVnni;
            try
            {
                var actual = new float[n * rows];
                packedKernel.DotRowsBatch(packed, cols, p, n, actual, rows, 0, rows);
                for (int i = 0; i < expected.Length; i++)
                    Assert.True(Close(actual[i], expected[i]), $"token {i / rows} row {i % rows} scalar={scalar} noVnni={noVnni}: {actual[i]} vs {expected[i]}");
            }
            finally { Kernels.ForceScalar = false; Kernels.ForceNoVnni = false; }
        }
    }

    [Theory]
    [InlineData(GgmlType.Q4_0, 64)]
    [InlineData(GgmlType.Q4_K, 256)]
    [InlineData(GgmlType.Q5_1, 96)]
    [InlineData(GgmlType.Q3_K, 256)]
    public void RepackKeepsTheTailRowsPlain(GgmlType type, int cols)
    {
        var (plain, packed, _) = Case(type, 13, cols, 5);
        long rb = GgmlTypeInfo.RowBytes(type, cols);
        Assert.Equal(plain.AsSpan((int)(8 * rb)).ToArray(), packed.AsSpan((int)(8 * rb)).ToArray());
        Assert.NotEqual(plain.AsSpan(0, (int)(8 * rb)).ToArray(), packed.AsSpan(0, (int)(8 * rb)).ToArray());
    }
}
