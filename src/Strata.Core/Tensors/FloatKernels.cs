using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>F32 weights: activations stay float; 4 independent FMA accumulators.</summary>
internal sealed unsafe class F32Kernel : RowKernel
{
    public override GgmlType Type => GgmlType.F32;
    public override int PreparedBytes(int cols) => cols * 4;
    public override void Prepare(ReadOnlySpan<float> x, Span<byte> prepared) => x.CopyTo(MemoryMarshal.Cast<byte, float>(prepared));

    protected override float DotRow(byte* w, byte* x, int n)
    {
        float* a = (float*)w, b = (float*)x;
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 64 <= n; i += 64)
            {
                s0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), s0);
                s1 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 16), Vector512.Load(b + i + 16), s1);
                s2 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 32), Vector512.Load(b + i + 32), s2);
                s3 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 48), Vector512.Load(b + i + 48), s3);
            }
            for (; i + 16 <= n; i += 16) s0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), s0);
            sum = Vector512.Sum((s0 + s1) + (s2 + s3));
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 32 <= n; i += 32)
            {
                s0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 8), Vector256.Load(b + i + 8), s1);
                s2 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 16), Vector256.Load(b + i + 16), s2);
                s3 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 24), Vector256.Load(b + i + 24), s3);
            }
            for (; i + 8 <= n; i += 8) s0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), s0);
            sum = Vector256.Sum((s0 + s1) + (s2 + s3));
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            Vector128<float> s0 = default, s1 = default;
            for (; i + 8 <= n; i += 8)
            {
                s0 += Vector128.Load(a + i) * Vector128.Load(b + i);
                s1 += Vector128.Load(a + i + 4) * Vector128.Load(b + i + 4);
            }
            sum = Vector128.Sum(s0 + s1);
        }
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    protected override float DotRowScalar(byte* w, byte* x, int n)
    {
        float* a = (float*)w, b = (float*)x;
        float sum = 0;
        for (int i = 0; i < n; i++) sum += a[i] * b[i];
        return sum;
    }
}

/// <summary>BF16 weights (F16 has its own <see cref="F16Kernel"/>): widen 16 halves to uint lanes, convert, FMA with float activations.</summary>
internal sealed unsafe class Half16Kernel<T> : RowKernel where T : struct, IHalfFormat
{
    public override GgmlType Type => T.Type;
    public override int PreparedBytes(int cols) => cols * 4;

    public override void Prepare(ReadOnlySpan<float> x, Span<byte> prepared)
    {
        var p = MemoryMarshal.Cast<byte, float>(prepared);
        for (int i = 0; i < x.Length; i++) p[i] = T.Round(x[i]);
    }

    protected override float DotRow(byte* w, byte* x, int n)
    {
        ushort* a = (ushort*)w;
        float* b = (float*)x;
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
        {
            Vector512<float> s0 = default, s1 = default;
            for (; i + 32 <= n; i += 32)
            {
                s0 = Vector512.FusedMultiplyAdd(T.Convert(Avx512F.ConvertToVector512UInt32(Vector256.Load(a + i))), Vector512.Load(b + i), s0);
                s1 = Vector512.FusedMultiplyAdd(T.Convert(Avx512F.ConvertToVector512UInt32(Vector256.Load(a + i + 16))), Vector512.Load(b + i + 16), s1);
            }
            sum = Vector512.Sum(s0 + s1);
        }
        else if (Avx2.IsSupported)
        {
            Vector256<float> s0 = default, s1 = default;
            for (; i + 16 <= n; i += 16)
            {
                s0 = Vector256.FusedMultiplyAdd(T.Convert(Avx2.ConvertToVector256Int32(a + i).AsUInt32()), Vector256.Load(b + i), s0);
                s1 = Vector256.FusedMultiplyAdd(T.Convert(Avx2.ConvertToVector256Int32(a + i + 8).AsUInt32()), Vector256.Load(b + i + 8), s1);
            }
            sum = Vector256.Sum(s0 + s1);
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            Vector128<float> s0 = default;
            for (; i + 8 <= n; i += 8)
            {
                var h = Vector128.Load(a + i);
                s0 += T.Convert(Vector128.WidenLower(h)) * Vector128.Load(b + i);
                s0 += T.Convert(Vector128.WidenUpper(h)) * Vector128.Load(b + i + 4);
            }
            sum = Vector128.Sum(s0);
        }
        for (; i < n; i++) sum += T.Convert(a[i]) * b[i];
        return sum;
    }

    /// <summary>
    /// Batches: each weight row is widened once for four tokens at a time, with each token's sums formed exactly as
    /// <see cref="DotRow"/> forms them (same accumulators, same order), so a batched row equals its single-token dot.
    /// </summary>
    public override void DotRowsBatch(ReadOnlySpan<byte> w, int cols, ReadOnlySpan<byte> prepared, int n, Span<float> y, int yStride, int rowStart, int rowEnd)
    {
        if (Kernels.ForceScalar || !(Vector512.IsHardwareAccelerated && Avx512F.IsSupported) && !Avx2.IsSupported || n < 4)
        {
            base.DotRowsBatch(w, cols, prepared, n, y, yStride, rowStart, rowEnd);
            return;
        }
        long rb = 2L * cols;
        int pb = PreparedBytes(cols);
        if (w.Length < rb * rowEnd || prepared.Length < (long)pb * n || y.Length < (long)(n - 1) * yStride + rowEnd)
            throw new ArgumentException("weights, activations or output too short");
        fixed (byte* pw = w)
        fixed (byte* px = prepared)
        fixed (float* py = y)
        {
            float* sums = stackalloc float[4];
            for (int r = rowStart; r < rowEnd; r++)
            {
                ushort* a = (ushort*)(pw + r * rb);
                int t = 0;
                for (; t + 4 <= n; t += 4)
                {
                    Dot4(a, (float*)(px + (long)t * pb), pb / 4, cols, sums);
                    for (int k = 0; k < 4; k++) py[(long)(t + k) * yStride + r] = sums[k];
                }
                for (; t < n; t++) py[(long)t * yStride + r] = DotRow((byte*)a, px + (long)t * pb, cols);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4(ushort* a, float* b0, int stride, int n, float* sums)
    {
        float* b1 = b0 + stride, b2 = b1 + stride, b3 = b2 + stride;
        int i = 0;
        float r0 = 0, r1 = 0, r2 = 0, r3 = 0;
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
        {
            Vector512<float> p0 = default, q0 = default, p1 = default, q1 = default, p2 = default, q2 = default, p3 = default, q3 = default;
            for (; i + 32 <= n; i += 32)
            {
                var lo = T.Convert(Avx512F.ConvertToVector512UInt32(Vector256.Load(a + i)));
                var hi = T.Convert(Avx512F.ConvertToVector512UInt32(Vector256.Load(a + i + 16)));
                p0 = Vector512.FusedMultiplyAdd(lo, Vector512.Load(b0 + i), p0); q0 = Vector512.FusedMultiplyAdd(hi, Vector512.Load(b0 + i + 16), q0);
                p1 = Vector512.FusedMultiplyAdd(lo, Vector512.Load(b1 + i), p1); q1 = Vector512.FusedMultiplyAdd(hi, Vector512.Load(b1 + i + 16), q1);
                p2 = Vector512.FusedMultiplyAdd(lo, Vector512.Load(b2 + i), p2); q2 = Vector512.FusedMultiplyAdd(hi, Vector512.Load(b2 + i + 16), q2);
                p3 = Vector512.FusedMultiplyAdd(lo, Vector512.Load(b3 + i), p3); q3 = Vector512.FusedMultiplyAdd(hi, Vector512.Load(b3 + i + 16), q3);
            }
            (r0, r1, r2, r3) = (Vector512.Sum(p0 + q0), Vector512.Sum(p1 + q1), Vector512.Sum(p2 + q2), Vector512.Sum(p3 + q3));
        }
        else
        {
            Vector256<float> p0 = default, q0 = default, p1 = default, q1 = default, p2 = default, q2 = default, p3 = default, q3 = default;
            for (; i + 16 <= n; i += 16)
            {
                var lo = T.Convert(Avx2.ConvertToVector256Int32(a + i).AsUInt32());
                var hi = T.Convert(Avx2.ConvertToVector256Int32(a + i + 8).AsUInt32());
                p0 = Vector256.FusedMultiplyAdd(lo, Vector256.Load(b0 + i), p0); q0 = Vector256.FusedMultiplyAdd(hi, Vector256.Load(b0 + i + 8), q0);
                p1 = Vector256.FusedMultiplyAdd(lo, Vector256.Load(b1 + i), p1); q1 = Vector256.FusedMultiplyAdd(hi, Vector256.Load(b1 + i + 8), q1);
                p2 = Vector256.FusedMultiplyAdd(lo, Vector256.Load(b2 + i), p2); q2 = Vector256.FusedMultiplyAdd(hi, Vector256.Load(b2 + i + 8), q2);
                p3 = Vector256.FusedMultiplyAdd(lo, Vector256.Load(b3 + i), p3); q3 = Vector256.FusedMultiplyAdd(hi, Vector256.Load(b3 + i + 8), q3);
            }
            (r0, r1, r2, r3) = (Vector256.Sum(p0 + q0), Vector256.Sum(p1 + q1), Vector256.Sum(p2 + q2), Vector256.Sum(p3 + q3));
        }
        for (; i < n; i++)
        {
            float v = T.Convert(a[i]);
            r0 += v * b0[i]; r1 += v * b1[i]; r2 += v * b2[i]; r3 += v * b3[i];
        }
        sums[0] = r0; sums[1] = r1; sums[2] = r2; sums[3] = r3;
    }

    protected override float DotRowScalar(byte* w, byte* x, int n)
    {
        ushort* a = (ushort*)w;
        float* b = (float*)x;
        float sum = 0;
        for (int i = 0; i < n; i++) sum += T.Convert(a[i]) * b[i];
        return sum;
    }
}

/// <summary>A 16-bit float weight format: conversion of its bits and the rounding ggml applies to activations.</summary>
internal interface IHalfFormat
{
    static abstract GgmlType Type { get; }
    static abstract float Round(float x);
    static abstract Vector512<float> Convert(Vector512<uint> h);
    static abstract Vector256<float> Convert(Vector256<uint> h);
    static abstract Vector128<float> Convert(Vector128<uint> h);
    static abstract float Convert(ushort h);
}

/// <summary>BF16 weights: like ggml, activations are rounded to bf16 (kept as float).</summary>
internal struct Bf16Format : IHalfFormat
{
    public static GgmlType Type => GgmlType.BF16;
    public static float Round(float x) => HalfBits.RoundToBf16(x);
    public static Vector512<float> Convert(Vector512<uint> h) => (h << 16).AsSingle();
    public static Vector256<float> Convert(Vector256<uint> h) => (h << 16).AsSingle();
    public static Vector128<float> Convert(Vector128<uint> h) => (h << 16).AsSingle();
    public static float Convert(ushort h) => HalfBits.Bf16ToSingle(h);
}
