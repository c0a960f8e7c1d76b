using Strata.Tensors;

namespace Strata.Tests.Tensors;

internal static class TestData
{
    public static readonly GgmlType[] WeightTypes =
    [
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
    ];

    public static readonly GgmlType[] QuantTypes = WeightTypes[3..];

    public static readonly GgmlType[] Block32Types = [GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1];

    public static readonly GgmlType[] KTypes = [GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K];

    /// <summary>Roughly Gaussian values with a few large outliers, like trained weights.</summary>
    public static float[] Gaussian(int n, int seed, float scale = 1f)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            double u1 = 1 - r.NextDouble(), u2 = r.NextDouble();
            double g = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
            if (r.Next(97) == 0) g *= 4;
            x[i] = (float)(g * scale);
        }
        return x;
    }

    public static byte[] RandomBytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>Random bytes for a quantized row, with every f16 scale replaced by a small finite value.</summary>
    public static byte[] RandomRow(GgmlType type, int cols, int rows, int seed)
    {
        var (bs, bb) = GgmlTypeInfo.Geometry(type);
        if (type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16)
        {
            var x = Gaussian(cols * rows, seed);
            var q = new byte[GgmlTypeInfo.RowBytes(type, x.Length)];
            Quantize.Row(type, x, q);
            return q;
        }
        var bytes = RandomBytes(cols / bs * bb * rows, seed);
        var r = new Random(seed + 1);
        int[] halfOffsets = type switch
        {
            GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.Q4_K or GgmlType.Q5_K => [0, 2],
            GgmlType.Q2_K => [80, 82],
            GgmlType.Q3_K => [108],
            GgmlType.Q6_K => [208],
            _ => [0],
        };
        for (int b = 0; b < bytes.Length / bb; b++)
            foreach (int o in halfOffsets)
            {
                var h = HalfBits.FromSingle((float)((r.NextDouble() * 2 - 1) * 0.01));
                bytes[b * bb + o] = (byte)h;
                bytes[b * bb + o + 1] = (byte)(h >> 8);
            }
        return bytes;
    }

    public static double Rms(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (double)(a[i] - b[i]) * (a[i] - b[i]);
        return Math.Sqrt(s / a.Length);
    }

    public static double Rms(ReadOnlySpan<float> a)
    {
        double s = 0;
        foreach (float v in a) s += (double)v * v;
        return Math.Sqrt(s / a.Length);
    }
}
