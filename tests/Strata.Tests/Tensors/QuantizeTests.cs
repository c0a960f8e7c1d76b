using Strata.Tensors;
using Xunit.Abstractions;

namespace Strata.Tests.Tensors;

public class QuantizeTests(ITestOutputHelper output)
{
    public static TheoryData<GgmlType> Block32 => new(TestData.Block32Types);
    public static TheoryData<GgmlType> KQuants => new(TestData.KTypes);
    public static TheoryData<GgmlType> AllQuant => new(TestData.QuantTypes);
    public static TheoryData<GgmlType> All => new(TestData.WeightTypes);

    private static float[] Crafted()
    {
        // exact ties of the rounding rules, zero blocks, constant blocks, a lone outlier and tiny values
        var x = new float[32 * 8];
        for (int j = 0; j < 32; j++) x[j] = (j - 16) * 0.5f;
        for (int j = 0; j < 32; j++) x[32 + j] = (j % 2 == 0 ? 1 : -1) * (j + 0.5f) / 8f;
        for (int j = 0; j < 32; j++) x[96 + j] = 0.75f;
        x[128 + 5] = -3f;
        for (int j = 0; j < 32; j++) x[160 + j] = j * 1e-6f - 1.6e-5f;
        for (int j = 0; j < 32; j++) x[192 + j] = (j - 15.5f) * 127f / 15.5f;
        for (int j = 0; j < 32; j++) x[224 + j] = MathF.Round((j - 16) * 0.37f * 8) / 8;
        return x;
    }

    [Theory, MemberData(nameof(Block32))]
    public void Block32BytesEqualGgml(GgmlType type)
    {
        if (!GgmlNative.Available) return;
        var inputs = new List<float[]> { Crafted() };
        for (int seed = 0; seed < 8; seed++) inputs.Add(TestData.Gaussian(32 * (1 + seed * 17), seed, seed + 0.01f));
        foreach (var x in inputs)
        {
            var mine = new byte[GgmlTypeInfo.RowBytes(type, x.Length)];
            Quantize.Row(type, x, mine);
            Assert.Equal(GgmlNative.QuantizeRef(type, x), mine);
        }
    }

    [Theory, MemberData(nameof(KQuants))]
    public void KQuantErrorTracksGgml(GgmlType type)
    {
        if (!GgmlNative.Available) return;
        double mineErr = 0, refErr = 0;
        int same = 0, total = 0;
        for (int seed = 0; seed < 6; seed++)
        {
            var x = TestData.Gaussian(256 * 16, 100 + seed, 0.02f);
            var mine = new byte[GgmlTypeInfo.RowBytes(type, x.Length)];
            Quantize.Row(type, x, mine);
            var theirs = GgmlNative.QuantizeRef(type, x);
            var dm = new float[x.Length];
            Dequantize.Row(type, mine, dm);
            var dr = GgmlNative.Dequantize(type, theirs, x.Length);
            mineErr += TestData.Rms(x, dm);
            refErr += TestData.Rms(x, dr);
            for (int i = 0; i < mine.Length; i++) same += mine[i] == theirs[i] ? 1 : 0;
            total += mine.Length;
        }
        output.WriteLine($"{type}: rms mine/ggml = {mineErr / refErr:F4}, identical bytes {100.0 * same / total:F2}%");
        Assert.InRange(mineErr / refErr, 0, 1.05);
        Assert.Equal(total, same); // same search, same float order: ggml's bytes exactly
    }

    [Theory, MemberData(nameof(AllQuant))]
    public void DequantizeMatchesGgml(GgmlType type)
    {
        if (!GgmlNative.Available) return;
        var x = TestData.Gaussian(256 * 8, 7, 0.05f);
        var q = GgmlNative.QuantizeRef(type, x);
        var theirs = GgmlNative.Dequantize(type, q, x.Length);
        var mine = new float[x.Length];
        Dequantize.Row(type, q, mine);
        float tol = 2e-6f * x.Max(MathF.Abs);
        for (int i = 0; i < x.Length; i++) Assert.True(MathF.Abs(mine[i] - theirs[i]) <= tol, $"{type} [{i}] {mine[i]} vs {theirs[i]}");
    }

    [Theory, MemberData(nameof(All))]
    public void DequantizeSimdEqualsScalar(GgmlType type)
    {
        foreach (int cols in new[] { 256, 512, 4096 })
        {
            var q = TestData.RandomRow(type, cols, 1, cols);
            if (type is GgmlType.F16 or GgmlType.BF16) q = TestData.RandomBytes(q.Length, cols); // every bit pattern, NaN and Inf included
            var a = new float[cols];
            var b = new float[cols];
            Dequantize.Row(type, q, a);
            Dequantize.RowScalar(type, q, b);
            for (int i = 0; i < cols; i++)
                Assert.True(BitConverter.SingleToInt32Bits(a[i]) == BitConverter.SingleToInt32Bits(b[i]) || (float.IsNaN(a[i]) && float.IsNaN(b[i])), $"{type} [{i}] {a[i]} vs {b[i]}");
        }
    }

    /// <summary>Round-trip error budget: rms(x - dequant(quant(x))) / rms(x) on Gaussian rows with outliers (measured, plus ~15% margin).</summary>
    [Theory]
    [InlineData(GgmlType.F32, 0.0)]
    [InlineData(GgmlType.F16, 0.00025)]
    [InlineData(GgmlType.BF16, 0.002)]
    [InlineData(GgmlType.Q8_0, 0.0073)]
    [InlineData(GgmlType.Q6_K, 0.023)]
    [InlineData(GgmlType.Q5_0, 0.058)]
    [InlineData(GgmlType.Q5_1, 0.047)]
    [InlineData(GgmlType.Q5_K, 0.046)]
    [InlineData(GgmlType.Q4_0, 0.12)]
    [InlineData(GgmlType.Q4_1, 0.097)]
    [InlineData(GgmlType.Q4_K, 0.09)]
    [InlineData(GgmlType.Q3_K, 0.19)]
    [InlineData(GgmlType.Q2_K, 0.37)]
    public void RoundTripErrorBudget(GgmlType type, double budget)
    {
        var x = TestData.Gaussian(256 * 64, 3, 0.02f);
        var q = new byte[GgmlTypeInfo.RowBytes(type, x.Length)];
        Quantize.Row(type, x, q);
        var y = new float[x.Length];
        Dequantize.Row(type, q, y);
        double rel = TestData.Rms(x, y) / TestData.Rms(x);
        output.WriteLine($"{type}: relative rms error {rel:F5} (budget {budget})");
        Assert.InRange(rel, 0, budget);
    }
}
