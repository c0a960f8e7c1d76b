using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Strata.Tensors;

namespace Strata.Tests.Tensors;

/// <summary>
/// The F16 tile kernel: its bit-level widening (exact, subnormals included), its vector rounding of
/// activations, rows holding infinities or NaNs, and every SIMD path's batches against its own single-token dots.
/// </summary>
public class F16KernelTests
{
    public static TheoryData<int> Paths => new() { (int)F16Kernel.Path.Best, (int)F16Kernel.Path.Avx2, (int)F16Kernel.Path.Portable };

    public static TheoryData<GgmlType, int> TypesAndPaths
    {
        get
        {
            var d = new TheoryData<GgmlType, int>();
            foreach (var t in new[] { GgmlType.F16, GgmlType.BF16 })
                foreach (var p in new[] { F16Kernel.Path.Best, F16Kernel.Path.Avx2, F16Kernel.Path.Portable }) d.Add(t, (int)p);
            return d;
        }
    }

    [Fact]
    public unsafe void FiniteScaleWideningEqualsTheExactConversionForEveryFiniteHalf()
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported) return; // the AVX2 kernels' helper; other machines never call it
        var h = new ushort[8];
        int checkedCount = 0;
        for (int start = 0; start < 65536; start += 8)
        {
            for (int j = 0; j < 8; j++) h[j] = (ushort)(start + j);
            Vector256<float> f;
            fixed (ushort* p = h) f = HalfBits.ToSingleFinite(p);
            for (int j = 0; j < 8; j++)
            {
                if ((h[j] & 0x7c00) == 0x7c00) continue; // infinity and NaN: not block scales
                Assert.True(BitConverter.SingleToUInt32Bits(HalfBits.ToSingle(h[j])) == BitConverter.SingleToUInt32Bits(f[j]),
                    $"half 0x{h[j]:x4}: exact {HalfBits.ToSingle(h[j]):R}, widened {f[j]:R}");
                checkedCount++;
            }
        }
        Assert.Equal(65536 - 2 * 1024, checkedCount);
    }

    [Fact]
    public void VectorRoundingOfActivationsEqualsTheScalarConversion()
    {
        var values = new List<float>
        {
            0f, -0f, 1f, -1f, 65504f, 65519.99f, 65520f, -65520f, 65536f, 1e30f, float.MaxValue, float.PositiveInfinity, float.NegativeInfinity,
            float.NaN, BitConverter.UInt32BitsToSingle(0x7f800001), BitConverter.UInt32BitsToSingle(0xffc00001), float.Epsilon,
            MathF.Pow(2, -14), MathF.BitDecrement(MathF.Pow(2, -14)), MathF.BitIncrement(MathF.Pow(2, -14)),
            MathF.Pow(2, -24), MathF.Pow(2, -25), MathF.BitIncrement(MathF.Pow(2, -25)), 3 * MathF.Pow(2, -26), 5 * MathF.Pow(2, -26),
            1 + MathF.Pow(2, -11), 1 + 3 * MathF.Pow(2, -11), -(1 + MathF.Pow(2, -11)),
        };
        // a stride through every bit pattern, so each exponent and sign is met with many mantissas
        for (ulong u = 0; u <= uint.MaxValue; u += 40_009) values.Add(BitConverter.UInt32BitsToSingle((uint)u));
        while (values.Count % 8 != 0) values.Add(0.5f);
        var x = values.ToArray();
        var simd = new float[x.Length];
        for (int i = 0; i < x.Length; i += 8)
            F16Kernel.RoundToHalf(System.Runtime.Intrinsics.Vector256.Create(x.AsSpan(i, 8))).CopyTo(simd.AsSpan(i, 8));
        for (int i = 0; i < x.Length; i++)
        {
            float expect = HalfBits.RoundToHalf(x[i]);
            if (float.IsNaN(expect)) Assert.True(float.IsNaN(simd[i]), $"{x[i]:R} (0x{BitConverter.SingleToUInt32Bits(x[i]):x8}) gave {simd[i]:R}, not NaN");
            else Assert.True(BitConverter.SingleToUInt32Bits(expect) == BitConverter.SingleToUInt32Bits(simd[i]),
                $"{x[i]:R} (0x{BitConverter.SingleToUInt32Bits(x[i]):x8}): scalar {expect:R}, vector {simd[i]:R}");
        }
    }

    [Fact]
    public void VectorRoundingToBf16EqualsTheScalarConversion()
    {
        var values = new List<float> { 0f, -0f, 1f, 1.00390625f, 1.005859375f, float.MaxValue, float.PositiveInfinity, float.NaN,
            BitConverter.UInt32BitsToSingle(0x7f800001), BitConverter.UInt32BitsToSingle(0xff810000), float.Epsilon, -3.3895314e38f };
        for (ulong u = 0; u <= uint.MaxValue; u += 40_009) values.Add(BitConverter.UInt32BitsToSingle((uint)u));
        while (values.Count % 8 != 0) values.Add(0.5f);
        var x = values.ToArray();
        for (int i = 0; i < x.Length; i += 8)
        {
            var v = F16Kernel.RoundToBf16(Vector256.Create(x.AsSpan(i, 8)));
            for (int j = 0; j < 8; j++)
                Assert.True(BitConverter.SingleToUInt32Bits(HalfBits.RoundToBf16(x[i + j])) == BitConverter.SingleToUInt32Bits(v[j]),
                    $"0x{BitConverter.SingleToUInt32Bits(x[i + j]):x8}: scalar {HalfBits.RoundToBf16(x[i + j]):R}, vector {v[j]:R}");
        }
    }

    /// <summary>
    /// The vector widenings give every half's exact float (NaN payloads kept) and never pass a subnormal through a
    /// float operation, which on Intel cores costs a microcode assist per instruction.
    /// </summary>
    [Fact]
    public void VectorWideningEqualsTheExactConversionForEveryHalf()
    {
        for (int start = 0; start < 65536; start += 16)
        {
            var h = Vector512.Create(Enumerable.Range(start, 16).Select(i => (uint)i).ToArray());
            var exact = HalfBits.ToSingle(h);
            var lo = HalfBits.ToSingle(h.GetLower());
            var quarter = HalfBits.ToSingle(h.GetLower().GetLower());
            var shifted = HalfBits.FromShiftedFinite(Vector512.Create(Enumerable.Range(start, 16).Select(i => (int)(short)i << 13).ToArray()));
            var shifted256 = HalfBits.FromShiftedFinite(Vector512.Create(Enumerable.Range(start, 16).Select(i => (int)(short)i << 13).ToArray()).GetLower());
            for (int j = 0; j < 16; j++)
            {
                ushort bits = (ushort)(start + j);
                uint expect = BitConverter.SingleToUInt32Bits((float)BitConverter.UInt16BitsToHalf(bits));
                // the shifted widenings take finite halves only, and may drop the sign of zero (a sum is the same)
                bool finite = (bits & 0x7c00) != 0x7c00;
                Assert.True(expect == BitConverter.SingleToUInt32Bits(exact[j]), $"half 0x{bits:x4}: {exact[j]:R}");
                if (j < 8) Assert.True(expect == BitConverter.SingleToUInt32Bits(lo[j]), $"256-bit half 0x{bits:x4}: {lo[j]:R}");
                if (j < 4) Assert.True(expect == BitConverter.SingleToUInt32Bits(quarter[j]), $"128-bit half 0x{bits:x4}: {quarter[j]:R}");
                if (finite && (bits & 0x7fff) != 0)
                {
                    Assert.True(expect == BitConverter.SingleToUInt32Bits(shifted[j]), $"shifted half 0x{bits:x4}: {shifted[j]:R}");
                    if (j < 8) Assert.True(expect == BitConverter.SingleToUInt32Bits(shifted256[j]), $"shifted 256-bit half 0x{bits:x4}: {shifted256[j]:R}");
                }
                else if (finite) Assert.True(shifted[j] == 0, $"zero 0x{bits:x4}");
            }
        }
    }

    [Fact]
    public void PreparedRowsAreTheRoundedActivations()
    {
        var x = TestData.Gaussian(203, 4);
        x[5] = 70000; x[6] = -1e-7f; x[7] = 3e-6f;
        var k = Kernels.For(GgmlType.F16);
        var p = new byte[k.PreparedBytes(x.Length)];
        k.Prepare(x, p);
        var f = MemoryMarshal.Cast<byte, float>(p);
        for (int i = 0; i < x.Length; i++) Assert.Equal(HalfBits.RoundToHalf(x[i]), f[i]);
    }

    /// <summary>Every path: batches of many sizes (tiles, tails, token blocks) give each token's single dot bit for bit, close to float64.</summary>
    [Theory, MemberData(nameof(TypesAndPaths))]
    public void EveryPathBatchesEqualSingleRowsAndFloat64(GgmlType type, int path)
    {
        var k = Kernels.For(type);
        Func<ushort, double> weight = type == GgmlType.F16 ? h => HalfBits.ToSingle(h) : h => HalfBits.Bf16ToSingle(h);
        Func<float, float> round = type == GgmlType.F16 ? HalfBits.RoundToHalf : HalfBits.RoundToBf16;
        F16Kernel.ForcePath = (F16Kernel.Path)path;
        try
        {
            foreach (var (rows, cols, n) in new[] { (13, 100, 7), (9, 2048, 37), (4, 16, 6), (3, 17, 13), (6, 4096, 5) })
            {
                var w = TestData.RandomRow(type, cols, rows, rows + cols);
                // Every seventh weight a subnormal half (or bf16), of either sign: the widenings must give them exactly.
                for (int i = 0; i < rows * cols; i += 7) BitConverter.TryWriteBytes(w.AsSpan(2 * i), (ushort)((i * 37 % 1023 + 1) | (i % 2 == 0 ? 0x8000 : 0)));
                int pb = k.PreparedBytes(cols);
                var xs = TestData.Gaussian(n * cols, n);
                var p = new byte[pb * n];
                for (int t = 0; t < n; t++) k.Prepare(xs.AsSpan(t * cols, cols), p.AsSpan(t * pb, pb));
                var batch = new float[n * rows];
                k.DotRowsBatch(w, cols, p, n, batch, rows, 0, rows);
                for (int t = 0; t < n; t++)
                {
                    var one = new float[rows];
                    k.DotRows(w, cols, p.AsSpan(t * pb, pb), one, 0, rows);
                    Assert.Equal(one, batch.AsSpan(t * rows, rows).ToArray());
                    for (int r = 0; r < rows; r++)
                    {
                        double exact = 0, mag = 0;
                        for (int i = 0; i < cols; i++)
                        {
                            double wi = weight(BitConverter.ToUInt16(w, 2 * (r * cols + i))), xi = round(xs[t * cols + i]);
                            exact += wi * xi;
                            mag += Math.Abs(wi * xi);
                        }
                        Assert.True(Math.Abs(one[r] - exact) <= 2e-6 * mag + 1e-30, $"{type} path {path} rows {rows} cols {cols} token {t} row {r}: {one[r]} vs {exact}");
                    }
                }
                // a row range that starts inside the matrix, as the pool's chunks do
                var part = new float[rows - 1];
                k.DotRows(w, cols, p.AsSpan(0, pb), part, 1, rows);
                Assert.Equal(batch.AsSpan(1, rows - 1).ToArray(), part);
            }
        }
        finally { F16Kernel.ForcePath = F16Kernel.Path.Best; }
    }

    /// <summary>Infinities and NaNs among the weights (in the vector body and in the tail) come out as the exact widening gives them; other rows are untouched.</summary>
    [Theory, MemberData(nameof(Paths))]
    public void InfinitiesAndNaNsInWeightsAreNotLost(int path)
    {
        // 9 tokens take the tiles that look for them, 20 the batch path that widens every row exactly once
        InfinitiesAndNaNsIn(path, 9);
        InfinitiesAndNaNsIn(path, 20);
    }

    private static void InfinitiesAndNaNsIn(int path, int n)
    {
        var k = Kernels.For(GgmlType.F16);
        const int rows = 10, cols = 100;
        var w = TestData.RandomRow(GgmlType.F16, cols, rows, 8);
        void Set(int r, int i, ushort bits) => BitConverter.TryWriteBytes(w.AsSpan(2 * (r * cols + i), 2), bits);
        Set(1, 3, 0x7c00);    // +inf in the body
        Set(4, 98, 0xfc00);   // -inf in the tail (100 = 6 × 16 + 4)
        Set(6, 40, 0x7e00);   // NaN
        Set(9, 0, 0x7c00); Set(9, 1, 0xfc00); // inf − inf: NaN
        int pb = k.PreparedBytes(cols);
        var xs = TestData.Gaussian(n * cols, 3);
        for (int i = 0; i < xs.Length; i++) xs[i] = Math.Abs(xs[i]) + 0.01f; // positive, so an infinity keeps its sign
        var p = new byte[pb * n];
        for (int t = 0; t < n; t++) k.Prepare(xs.AsSpan(t * cols, cols), p.AsSpan(t * pb, pb));
        F16Kernel.ForcePath = (F16Kernel.Path)path;
        try
        {
            var batch = new float[n * rows];
            k.DotRowsBatch(w, cols, p, n, batch, rows, 0, rows);
            for (int t = 0; t < n; t++)
            {
                var row = batch.AsSpan(t * rows, rows);
                Assert.Equal(float.PositiveInfinity, row[1]);
                Assert.Equal(float.NegativeInfinity, row[4]);
                Assert.True(float.IsNaN(row[6]), $"token {t}: row 6 {row[6]}");
                Assert.True(float.IsNaN(row[9]), $"token {t}: row 9 {row[9]}");
                foreach (int r in new[] { 0, 2, 3, 5, 7, 8 }) Assert.True(float.IsFinite(row[r]), $"token {t}: row {r} {row[r]}");
                var one = new float[rows];
                k.DotRows(w, cols, p.AsSpan(t * pb, pb), one, 0, rows);
                Assert.Equal(one, row.ToArray());
            }
        }
        finally { F16Kernel.ForcePath = F16Kernel.Path.Best; }
    }
}

/// <summary>The load-time check that lets F16 matrices skip the per-row search for infinities and NaNs.</summary>
public class F16FiniteLayoutTests
{
    [Fact]
    public unsafe void PackerMarksFiniteF16MatricesAndLeavesOthersChecked()
    {
        const int rows = 8, cols = 64;
        var bytes = TestData.RandomRow(GgmlType.F16, cols, rows, 2);
        // One value too large for the re-encoded layout (RebasedHalfTests), so this matrix stays F16 on every machine.
        BitConverter.TryWriteBytes(bytes.AsSpan(2 * 17, 2), HalfBits.FromSingle(1000f));
        fixed (byte* p = bytes)
        {
            var w = new Strata.Weights.WeightTensor("m", GgmlType.F16, [cols, rows], (nint)p, bytes.Length);
            using var packer = new Strata.Weights.WeightPacker();
            var finite = packer.Pack(w);
            Assert.Equal(WeightLayout.PlainFinite, finite.Layout);
            Assert.Equal(bytes.Length, finite.Row(0).Length * rows); // rows stay readable as plain
            Assert.Equal(WeightLayout.Plain, new Strata.Weights.WeightPacker(enabled: false).Pack(w).Layout);

            BitConverter.TryWriteBytes(bytes.AsSpan(2 * (5 * cols + 63), 2), (ushort)0xfe00); // a NaN in the last element
            Assert.Equal(WeightLayout.Plain, packer.Pack(w).Layout);
            Assert.False(F16Kernel.AllFinite((short*)p, bytes.Length / 2));
            Assert.True(F16Kernel.AllFinite((short*)p, 5 * cols + 63));
        }
        // the finite kernel and the checked one agree on finite rows
        var clean = TestData.RandomRow(GgmlType.F16, cols, rows, 3);
        var k = Kernels.For(GgmlType.F16);
        var kf = Kernels.For(GgmlType.F16, WeightLayout.PlainFinite);
        Assert.NotSame(k, kf);
        var prep = new byte[k.PreparedBytes(cols) * 7];
        for (int t = 0; t < 7; t++) k.Prepare(TestData.Gaussian(cols, t), prep.AsSpan(t * k.PreparedBytes(cols), k.PreparedBytes(cols)));
        var a = new float[7 * rows];
        var b = new float[7 * rows];
        k.DotRowsBatch(clean, cols, prep, 7, a, rows, 0, rows);
        kf.DotRowsBatch(clean, cols, prep, 7, b, rows, 0, rows);
        Assert.Equal(a, b);
    }
}
