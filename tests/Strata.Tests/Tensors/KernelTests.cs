using System.Runtime.InteropServices;
using Strata.Tensors;
using Xunit.Abstractions;

namespace Strata.Tests.Tensors;

public class KernelTests(ITestOutputHelper output)
{
    public static TheoryData<GgmlType> All => new(TestData.WeightTypes);

    /// <summary>The activation row a kernel really multiplies with, decoded from its prepared bytes.</summary>
    internal static double[] DecodePrepared(GgmlType type, byte[] p, int cols)
    {
        var x = new double[cols];
        if (type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16)
        {
            var f = MemoryMarshal.Cast<byte, float>(p);
            for (int i = 0; i < cols; i++) x[i] = f[i];
        }
        else if (type is GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K)
        {
            var L = new Q8KLayout(cols);
            for (int i = 0; i < cols; i++) x[i] = (sbyte)p[i] * (double)BitConverter.ToSingle(p, L.DOff + 4 * (i / 256));
        }
        else
        {
            var L = new Q8Layout(cols);
            for (int i = 0; i < cols; i++) x[i] = (sbyte)p[i] * (double)BitConverter.ToSingle(p, L.DOff + 4 * (i / 32));
        }
        return x;
    }

    private static (byte[] W, float[] Wf) Weights(GgmlType type, int rows, int cols, int seed)
    {
        var w = TestData.RandomRow(type, cols, rows, seed);
        var wf = new float[rows * cols];
        long rb = GgmlTypeInfo.RowBytes(type, cols);
        for (int r = 0; r < rows; r++) Dequantize.RowScalar(type, w.AsSpan((int)(r * rb), (int)rb), wf.AsSpan(r * cols, cols));
        return (w, wf);
    }

    private static int[] ColSizes(GgmlType type)
    {
        int bs = Math.Max(32, GgmlTypeInfo.BlockSize(type));
        return [bs, 2 * bs, 3 * bs, 5 * bs, 13 * bs, 4096]; // 13 blocks: whole groups of 8 and a tail
    }

    [Theory, MemberData(nameof(All))]
    public void SimdMatchesScalarAndFloat64(GgmlType type)
    {
        var k = Kernels.For(type);
        foreach (int cols in ColSizes(type))
        {
            int rows = cols == 4096 ? 5 : 7;
            var (w, wf) = Weights(type, rows, cols, cols + (int)type);
            for (int n = 1; n <= 5; n++)
            {
                var xs = TestData.Gaussian(n * cols, n * 31 + cols);
                int pb = k.PreparedBytes(cols);
                var prep = new byte[n * pb];
                for (int b = 0; b < n; b++) k.Prepare(xs.AsSpan(b * cols, cols), prep.AsSpan(b * pb, pb));
                int stride = rows + 3;
                var ySimd = new float[n * stride];
                var yScalar = new float[n * stride];
                k.DotRowsBatch(w, cols, prep, n, ySimd, stride, 0, rows);
                try { Kernels.ForceScalar = true; k.DotRowsBatch(w, cols, prep, n, yScalar, stride, 0, rows); }
                finally { Kernels.ForceScalar = false; }
                var y1 = new float[rows];
                for (int b = 0; b < n; b++)
                {
                    var xq = DecodePrepared(type, prep[(b * pb)..((b + 1) * pb)], cols);
                    k.DotRows(w, cols, prep.AsSpan(b * pb, pb), y1, 0, rows);
                    for (int r = 0; r < rows; r++)
                    {
                        double exact = 0, mag = 0, exactX = 0, xErr = 0;
                        for (int i = 0; i < cols; i++)
                        {
                            double wi = wf[r * cols + i], xi = xs[b * cols + i];
                            exact += wi * xq[i];
                            mag += Math.Abs(wi * xq[i]);
                            exactX += wi * xi;
                            xErr += Math.Abs(wi) * Math.Abs(xi - xq[i]);
                        }
                        double tol = 2e-6 * mag + 1e-30 + MinTermRounding(type, w, r, cols, prep, b * pb);
                        float s = ySimd[b * stride + r], c = yScalar[b * stride + r];
                        Assert.True(Math.Abs(s - c) <= tol, $"{type} cols {cols} n {n} r {r}: simd {s} scalar {c}");
                        Assert.True(Math.Abs(s - exact) <= tol, $"{type} cols {cols} r {r}: simd {s} vs float64 {exact}");
                        Assert.Equal(s, y1[r]); // single-row and batch paths agree exactly
                        // against the unquantized activations: off by no more than the activation rounding allows
                        Assert.True(Math.Abs(s - exactX) <= xErr * 1.0001 + tol, $"{type} cols {cols} r {r}: {s} vs {exactX} (bound {xErr})");
                    }
                }
            }
        }
    }

    /// <summary>Q4_1/Q5_1 use ggml's Q8_1 s = f16(unrounded d * sum): up to an f16 ulp away from the decoded activations, times the block min is allowed on top.</summary>
    private static double MinTermRounding(GgmlType type, byte[] w, int r, int cols, byte[] prep, int prepOffset)
    {
        if (type is not (GgmlType.Q4_1 or GgmlType.Q5_1)) return 0;
        var L = new Q8Layout(cols);
        int bb = GgmlTypeInfo.BlockBytes(type);
        double t = 0;
        for (int b = 0; b < L.Blocks; b++)
        {
            double m = HalfBits.ToSingle(BitConverter.ToUInt16(w, (r * L.Blocks + b) * bb + 2));
            double sx = BitConverter.ToSingle(prep, prepOffset + L.SOff + 4 * b);
            t += Math.Abs(m * sx) * (1.0 / 1024) + 1e-12;
        }
        return t;
    }

    [Theory, MemberData(nameof(All))]
    public void MatchesGgmlVecDot(GgmlType type)
    {
        Assert.True(GgmlNative.Available, "ggml's CPU library (from LLamaSharp.Backend.Cpu) did not load: the reference for this test is missing");
        var k = Kernels.For(type);
        const int cols = 1024;
        var x = TestData.Gaussian(cols, 5);
        var wsrc = TestData.Gaussian(cols * 3, 6, 0.03f);
        var prep = new byte[k.PreparedBytes(cols)];
        k.Prepare(x, prep);
        long rb = GgmlTypeInfo.RowBytes(type, cols);
        var w = new byte[rb * 3];
        for (int r = 0; r < 3; r++) Quantize.Row(type, wsrc.AsSpan(r * cols, cols), w.AsSpan((int)(r * rb), (int)rb));
        var y = new float[3];
        k.DotRows(w, cols, prep, y, 0, 3);

        string name;
        byte[] xg;
        switch (type)
        {
            case GgmlType.F32: name = "ggml_vec_dot_f32"; xg = MemoryMarshal.AsBytes(x.AsSpan()).ToArray(); break;
            case GgmlType.F16: name = "ggml_vec_dot_f16"; xg = new byte[cols * 2]; Quantize.Row(GgmlType.F16, x, xg); break;
            case GgmlType.BF16: name = "ggml_vec_dot_bf16"; xg = new byte[cols * 2]; Quantize.Row(GgmlType.BF16, x, xg); break;
            case GgmlType.Q4_1 or GgmlType.Q5_1: name = $"ggml_vec_dot_{Low(type)}_q8_1"; xg = GgmlNative.QuantizeActivation("q8_1", x); break;
            case GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q5_0: name = $"ggml_vec_dot_{Low(type)}_q8_0"; xg = GgmlNative.QuantizeActivation("q8_0", x); break;
            default: name = $"ggml_vec_dot_{Low(type)}_q8_K"; xg = GgmlNative.QuantizeActivation("q8_K", x); break;
        }
        for (int r = 0; r < 3; r++)
        {
            float theirs = GgmlNative.VecDot(name, cols, w[(int)(r * rb)..(int)((r + 1) * rb)], xg);
            output.WriteLine($"{type} row {r}: strata {y[r]:G9} ggml {theirs:G9}");
            Assert.True(Math.Abs(y[r] - theirs) <= 1e-5 * (Math.Abs(theirs) + 1), $"{type}: {y[r]} vs ggml {theirs}");
        }
    }

    private static string Low(GgmlType t) => t.ToString().ToLowerInvariant().Replace("_k", "_K");

    [Fact]
    public void ActivationQuantsEqualGgml()
    {
        Assert.True(GgmlNative.Available, "ggml's CPU library (from LLamaSharp.Backend.Cpu) did not load: the reference for this test is missing");
        var x = TestData.Gaussian(2048, 9);
        x[7] = 0; for (int i = 256; i < 512; i++) x[i] = 0; // an all-zero block
        var g0 = GgmlNative.QuantizeActivation("q8_0", x);
        var g1 = GgmlNative.QuantizeActivation("q8_1", x);
        var p = new byte[new Q8Layout(2048).Bytes];
        ActivationQuant.Q8(x, p);
        var L = new Q8Layout(2048);
        for (int b = 0; b < 64; b++)
        {
            Assert.Equal(HalfBits.ToSingle(BitConverter.ToUInt16(g0, 34 * b)), BitConverter.ToSingle(p, L.DOff + 4 * b));
            Assert.Equal(g0.AsSpan(34 * b + 2, 32).ToArray(), p.AsSpan(32 * b, 32).ToArray());
            Assert.Equal(g1.AsSpan(36 * b + 4, 32).ToArray(), p.AsSpan(32 * b, 32).ToArray());
            Assert.Equal(HalfBits.ToSingle(BitConverter.ToUInt16(g1, 36 * b + 2)), BitConverter.ToSingle(p, L.SOff + 4 * b));
        }
        var gk = GgmlNative.QuantizeActivation("q8_K", x);
        var K = new Q8KLayout(2048);
        var pk = new byte[K.Bytes];
        ActivationQuant.Q8K(x, pk);
        for (int b = 0; b < 8; b++)
        {
            Assert.Equal(BitConverter.ToSingle(gk, 292 * b), BitConverter.ToSingle(pk, K.DOff + 4 * b));
            Assert.Equal(gk.AsSpan(292 * b + 4, 256).ToArray(), pk.AsSpan(256 * b, 256).ToArray());
            if (b != 1) Assert.Equal(gk.AsSpan(292 * b + 260, 32).ToArray(), pk.AsSpan(K.BsumOff + 32 * b, 32).ToArray()); // ggml leaves an all-zero block's sums unset
        }
    }

    /// <summary>16-bit float weights in batches (4-token tiles and a tail) give each token's single-row dot bit for bit.</summary>
    [Theory]
    [InlineData(GgmlType.F16, 6, 100)]
    [InlineData(GgmlType.F16, 9, 2048)]
    [InlineData(GgmlType.BF16, 5, 200)]
    public void HalfBatchesEqualSingleRows(GgmlType type, int n, int cols)
    {
        const int rows = 13;
        var w = TestData.RandomRow(type, cols, rows, 3);
        var k = Kernels.For(type);
        int pb = k.PreparedBytes(cols);
        var p = new byte[pb * n];
        for (int t = 0; t < n; t++) k.Prepare(TestData.Gaussian(cols, 50 + t), p.AsSpan(t * pb, pb));
        var batch = new float[n * rows];
        k.DotRowsBatch(w, cols, p, n, batch, rows, 0, rows);
        for (int t = 0; t < n; t++)
        {
            var one = new float[rows];
            k.DotRows(w, cols, p.AsSpan(t * pb, pb), one, 0, rows);
            Assert.Equal(one, batch.AsSpan(t * rows, rows).ToArray());
        }
    }

    /// <summary>The SIMD activation quantizers give their scalar twins' bytes, ties and zero blocks included.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void SimdActivationQuantsEqualTheScalarTwins(int seed)
    {
        var x = TestData.Gaussian(4096, 40 + seed);
        for (int i = 0; i < 256; i++) x[i] = 0;                      // an all-zero block for both layouts
        for (int i = 512; i < 544; i++) x[i] = (i % 5 - 2) * 0.5f;   // scaled values land on .5: round half-even
        x[1000] = -x[1000] * 40;                                      // a negative max
        x[2000] = 1e-30f;
        foreach (int offset in new[] { 0, 8 })
        {
            var L = new Q8Layout(x.Length);
            byte[] simd = new byte[L.Bytes], scalar = new byte[L.Bytes];
            ActivationQuant.Q8(x, simd, offset);
            ActivationQuant.Q8Scalar(x, scalar, offset);
            Assert.Equal(scalar, simd);
        }
        var K = new Q8KLayout(x.Length);
        byte[] ks = new byte[K.Bytes], kc = new byte[K.Bytes];
        ActivationQuant.Q8K(x, ks);
        ActivationQuant.Q8KScalar(x, kc);
        Assert.Equal(kc, ks);
    }

    [Fact]
    public void EveryWeightTypeHasAKernel()
    {
        foreach (var t in TestData.WeightTypes)
        {
            Assert.True(GgmlTypeInfo.IsSupportedWeight(t));
            Assert.Equal(t, Kernels.For(t).Type);
        }
        Assert.Throws<NotSupportedException>(() => Kernels.For(GgmlType.IQ2_XXS));
    }
}
