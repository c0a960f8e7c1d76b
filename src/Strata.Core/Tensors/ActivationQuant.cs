using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>
/// Prepared activation row in 32-blocks (ggml's Q8_0 / Q8_1 as the CPU backend makes them), laid out for SIMD:
/// int8 quants [cols] | float d[nb] (f16-rounded) | int sum[nb] (sum of quants) | float s[nb] (f16-rounded d*sum, Q8_1's s)
/// | int bias[nb][8] (lane 0 = -offset*sum, added to a block's int32 lanes for weight types with a quant offset).
/// </summary>
internal readonly struct Q8Layout
{
    public readonly int Blocks, DOff, SumOff, SOff, BiasOff, Bytes;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Q8Layout(int cols)
    {
        if (cols % 32 != 0) Q8KLayout.NotWhole(cols, 32);
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

    // Built once per kernel call (a tile of 8 rows × 4 tokens): the throw sits in its own method so that this inlines.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Q8KLayout(int cols)
    {
        if (cols % 256 != 0) NotWhole(cols, 256);
        Blocks = cols / 256;
        DOff = cols;
        BsumOff = Q8Layout.Align(cols + Blocks * 4);
        Bytes = BsumOff + Blocks * 32;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static void NotWhole(int cols, int block) => throw new ArgumentException($"row length {cols} is not a multiple of {block}");
}

/// <summary>Activation quantizers with the CPU backend's rounding (x86 quantize_row_q8_0/q8_1 and quantize_row_q8_K).</summary>
internal static unsafe class ActivationQuant
{
    /// <summary>The <see cref="WeightKernel.PrepareKey"/> of every kernel that reads Q8_K rows.</summary>
    public static readonly object Q8KKey = new();

    /// <summary>Q8_0 quants with id = 127/amax and round-half-even, as ggml's AVX path; d rounded to f16 like the block stores it.</summary>
    public static void Q8(ReadOnlySpan<float> x, Span<byte> prepared, int offset = 0)
    {
        if (Avx2.IsSupported && !Kernels.ForceScalar) Q8Simd(x, prepared, offset);
        else Q8Scalar(x, prepared, offset);
    }

    /// <summary>The same numbers as <see cref="Q8Scalar"/>: x·id rounded half-even (vroundps), sums in int32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Q8Simd(ReadOnlySpan<float> x, Span<byte> prepared, int offset)
    {
        var L = new Q8Layout(x.Length);
        if (prepared.Length < L.Bytes) throw new ArgumentException("prepared buffer too small");
        fixed (float* xp = x)
        fixed (byte* pp = prepared)
        {
            sbyte* q = (sbyte*)pp;
            float* d = (float*)(pp + L.DOff);
            int* sum = (int*)(pp + L.SumOff);
            float* s = (float*)(pp + L.SOff);
            int* bias = (int*)(pp + L.BiasOff);
            var absMask = Vector256.Create(0x7FFFFFFF).AsSingle();
            for (int b = 0; b < L.Blocks; b++)
            {
                float* xb = xp + 32 * b;
                Vector256<float> v0 = Vector256.Load(xb), v1 = Vector256.Load(xb + 8), v2 = Vector256.Load(xb + 16), v3 = Vector256.Load(xb + 24);
                var m = Vector256.Max(Vector256.Max(v0 & absMask, v1 & absMask), Vector256.Max(v2 & absMask, v3 & absMask));
                var m4 = Vector128.Max(m.GetLower(), m.GetUpper());
                m4 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(2, 3, 0, 1)));
                m4 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(1, 0, 3, 2)));
                float amax = m4.ToScalar();
                float db = amax / 127f;
                var id = Vector256.Create(amax != 0 ? 127f / amax : 0f);
                var i0 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(v0 * id));
                var i1 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(v1 * id));
                var i2 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(v2 * id));
                var i3 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(v3 * id));
                Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3)).Store(q + 32 * b);
                int total = Vector256.Sum(i0 + i1 + i2 + i3);
                d[b] = HalfBits.RoundToHalf(db);
                sum[b] = total;
                s[b] = HalfBits.RoundToHalf(db * total);
                Vector256.Create(-offset * total, 0, 0, 0, 0, 0, 0, 0).Store(bias + 8 * b);
            }
        }
    }

    /// <summary>Scalar twin of <see cref="Q8Simd"/>.</summary>
    internal static void Q8Scalar(ReadOnlySpan<float> x, Span<byte> prepared, int offset = 0)
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
        if (Avx2.IsSupported && !Kernels.ForceScalar) Q8KSimd(x, prepared);
        else Q8KScalar(x, prepared);
    }

    /// <summary>The same numbers as <see cref="Q8KScalar"/>; the signed max is the first element of largest magnitude.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Q8KSimd(ReadOnlySpan<float> x, Span<byte> prepared)
    {
        var L = new Q8KLayout(x.Length);
        if (prepared.Length < L.Bytes) throw new ArgumentException("prepared buffer too small");
        fixed (float* xp = x)
        fixed (byte* pp = prepared)
        {
            float* d = (float*)(pp + L.DOff);
            short* bs = (short*)(pp + L.BsumOff);
            var absMask = Vector256.Create(0x7FFFFFFF).AsSingle();
            var top = Vector256.Create(127);
            for (int b = 0; b < L.Blocks; b++)
            {
                float* xb = xp + 256 * b;
                sbyte* qb = (sbyte*)pp + 256 * b;
                var m = Vector256<float>.Zero;
                for (int j = 0; j < 256; j += 8) m = Vector256.Max(m, Vector256.Load(xb + j) & absMask);
                var m4 = Vector128.Max(m.GetLower(), m.GetUpper());
                m4 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(2, 3, 0, 1)));
                m4 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(1, 0, 3, 2)));
                float amax = m4.ToScalar();
                if (amax == 0)
                {
                    d[b] = 0;
                    new Span<sbyte>(qb, 256).Clear();
                    new Span<short>(bs + 16 * b, 16).Clear();
                    continue;
                }
                int first = 0;
                while (MathF.Abs(xb[first]) != amax) first++;
                float iscale = -127f / xb[first];
                var vs = Vector256.Create(iscale);
                for (int g = 0; g < 16; g++)
                {
                    float* xg = xb + 16 * g;
                    var i0 = Vector256.Min(Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(vs * Vector256.Load(xg))), top);
                    var i1 = Vector256.Min(Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(vs * Vector256.Load(xg + 8))), top);
                    Vector128.Narrow(Vector128.Narrow(i0.GetLower(), i0.GetUpper()), Vector128.Narrow(i1.GetLower(), i1.GetUpper())).Store(qb + 16 * g);
                    bs[16 * b + g] = (short)Vector256.Sum(i0 + i1);
                }
                d[b] = 1 / iscale;
            }
        }
    }

    /// <summary>Scalar twin of <see cref="Q8KSimd"/>.</summary>
    internal static void Q8KScalar(ReadOnlySpan<float> x, Span<byte> prepared)
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
