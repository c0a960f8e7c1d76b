using System.Runtime.InteropServices;

namespace Strata.Tensors;

/// <summary>
/// Prepared activation row in 32-blocks (ggml's Q8_0 / Q8_1 as the CPU backend makes them), laid out for SIMD:
/// int8 quants [cols] | float d[nb] (f16-rounded) | int sum[nb] (sum of quants) | float s[nb] (f16-rounded d*sum, Q8_1's s)
/// | int bias[nb][8] (lane 0 = -offset*sum, added to a block's int32 lanes for weight types with a quant offset).
/// </summary>
internal readonly struct Q8Layout
{
    public readonly int Blocks, DOff, SumOff, SOff, BiasOff, Bytes;

    public Q8Layout(int cols)
    {
        if (cols % 32 != 0) throw new ArgumentException($"row length {cols} is not a multiple of 32");
        Blocks = cols / 32;
        int table = Align(Blocks * 4);
        DOff = Align(cols);
        SumOff = DOff + table;
        SOff = SumOff + table;
        BiasOff = SOff + table;
        Bytes = BiasOff + Blocks * 32;
    }

    internal static int Align(int n) => (n + 63) & ~63;
}

/// <summary>Prepared activation row in 256-blocks (ggml's Q8_K): int8 quants [cols] | float d[nsb] | short bsums[nsb*16].</summary>
internal readonly struct Q8KLayout
{
    public readonly int Blocks, DOff, BsumOff, Bytes;

    public Q8KLayout(int cols)
    {
        if (cols % 256 != 0) throw new ArgumentException($"row length {cols} is not a multiple of 256");
        Blocks = cols / 256;
        DOff = cols;
        BsumOff = Q8Layout.Align(cols + Blocks * 4);
        Bytes = BsumOff + Blocks * 32;
    }
}

/// <summary>Activation quantizers with the CPU backend's rounding (x86 quantize_row_q8_0/q8_1 and quantize_row_q8_K).</summary>
internal static class ActivationQuant
{
    /// <summary>Q8_0 quants with id = 127/amax and round-half-even, as ggml's AVX path; d rounded to f16 like the block stores it.</summary>
    public static void Q8(ReadOnlySpan<float> x, Span<byte> prepared, int offset = 0)
    {
        var L = new Q8Layout(x.Length);
        var q = MemoryMarshal.Cast<byte, sbyte>(prepared[..x.Length]);
        var d = MemoryMarshal.Cast<byte, float>(prepared.Slice(L.DOff, L.Blocks * 4));
        var sum = MemoryMarshal.Cast<byte, int>(prepared.Slice(L.SumOff, L.Blocks * 4));
        var s = MemoryMarshal.Cast<byte, float>(prepared.Slice(L.SOff, L.Blocks * 4));
        var bias = MemoryMarshal.Cast<byte, int>(prepared.Slice(L.BiasOff, L.Blocks * 32));
        bias.Clear();
        for (int b = 0; b < L.Blocks; b++)
        {
            var xb = x.Slice(32 * b, 32);
            float amax = 0;
            foreach (float v in xb) amax = MathF.Max(amax, MathF.Abs(v));
            float db = amax / 127f;
            float id = amax != 0 ? 127f / amax : 0f;
            int total = 0;
            for (int j = 0; j < 32; j++)
            {
                int v = (int)MathF.Round(xb[j] * id);
                q[32 * b + j] = (sbyte)v;
                total += v;
            }
            d[b] = HalfBits.RoundToHalf(db);
            sum[b] = total;
            s[b] = HalfBits.RoundToHalf(db * total);
            bias[8 * b] = -offset * total;
        }
    }

    /// <summary>Q8_K: scale from the signed max (-127/max), quants clamped to 127, float d, 16-element sums.</summary>
    public static void Q8K(ReadOnlySpan<float> x, Span<byte> prepared)
    {
        var L = new Q8KLayout(x.Length);
        var q = MemoryMarshal.Cast<byte, sbyte>(prepared[..x.Length]);
        var d = MemoryMarshal.Cast<byte, float>(prepared.Slice(L.DOff, L.Blocks * 4));
        var bs = MemoryMarshal.Cast<byte, short>(prepared.Slice(L.BsumOff, L.Blocks * 32));
        for (int b = 0; b < L.Blocks; b++)
        {
            var xb = x.Slice(256 * b, 256);
            var qb = q.Slice(256 * b, 256);
            float max = 0, amax = 0;
            foreach (float v in xb)
            {
                float a = MathF.Abs(v);
                if (a > amax) { amax = a; max = v; }
            }
            if (amax == 0)
            {
                d[b] = 0;
                qb.Clear();
                bs.Slice(16 * b, 16).Clear();
                continue;
            }
            float iscale = -127f / max;
            for (int j = 0; j < 256; j++) qb[j] = (sbyte)Math.Min(127, Quantize.NearestInt(iscale * xb[j]));
            for (int g = 0; g < 16; g++)
            {
                int t = 0;
                for (int j = 0; j < 16; j++) t += qb[16 * g + j];
                bs[16 * b + g] = (short)t;
            }
            d[b] = 1 / iscale;
        }
    }
}
