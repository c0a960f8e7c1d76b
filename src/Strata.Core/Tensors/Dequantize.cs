using System.Runtime.CompilerServices;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Strata.Tensors;

/// <summary>Row dequantization to float. <see cref="Row"/> is vectorized where it pays; results equal <see cref="RowScalar"/> bit for bit.</summary>
public static class Dequantize
{
    public static void Row(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        Check(type, src, dst);
        switch (type)
        {
            case GgmlType.F16: F16Simd(src, dst); return;
            case GgmlType.BF16: Bf16Simd(src, dst); return;
            case GgmlType.Q8_0: Q8_0Simd(src, dst); return;
            case GgmlType.Q4_0: Q4_0Simd(src, dst); return;
            default: RowScalar(type, src, dst); return;
        }
    }

    public static void RowScalar(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        Check(type, src, dst);
        switch (type)
        {
            case GgmlType.F32: MemoryMarshal.Cast<byte, float>(src)[..dst.Length].CopyTo(dst); return;
            case GgmlType.F16:
                for (int i = 0; i < dst.Length; i++) dst[i] = HalfBits.ToSingle(U16(src, 2 * i));
                return;
            case GgmlType.BF16:
                for (int i = 0; i < dst.Length; i++) dst[i] = HalfBits.Bf16ToSingle(U16(src, 2 * i));
                return;
            case GgmlType.Q8_0: Blocks(src, dst, 34, 32, Q8_0); return;
            case GgmlType.Q4_0: Blocks(src, dst, 18, 32, Q4_0); return;
            case GgmlType.Q4_1: Blocks(src, dst, 20, 32, Q4_1); return;
            case GgmlType.Q5_0: Blocks(src, dst, 22, 32, Q5_0); return;
            case GgmlType.Q5_1: Blocks(src, dst, 24, 32, Q5_1); return;
            case GgmlType.Q2_K: Blocks(src, dst, 84, 256, Q2_K); return;
            case GgmlType.Q3_K: Blocks(src, dst, 110, 256, Q3_K); return;
            case GgmlType.Q4_K: Blocks(src, dst, 144, 256, Q4_K); return;
            case GgmlType.Q5_K: Blocks(src, dst, 176, 256, Q5_K); return;
            case GgmlType.Q6_K: Blocks(src, dst, 210, 256, Q6_K); return;
            default: throw new NotSupportedException($"dequantize {GgmlTypeInfo.Name(type)}");
        }
    }

    private static void Check(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        long need = GgmlTypeInfo.RowBytes(type, dst.Length);
        if (src.Length < need) throw new ArgumentException($"{type}: {dst.Length} elements need {need} bytes, got {src.Length}");
    }

    private delegate void BlockFn(ReadOnlySpan<byte> b, Span<float> y);

    private static void Blocks(ReadOnlySpan<byte> src, Span<float> dst, int bytes, int elems, BlockFn fn)
    {
        for (int i = 0, n = dst.Length / elems; i < n; i++)
            fn(src.Slice(i * bytes, bytes), dst.Slice(i * elems, elems));
    }

    private static ushort U16(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt16LittleEndian(s[o..]);
    private static float H(ReadOnlySpan<byte> s, int o) => HalfBits.ToSingle(U16(s, o));

    private static void Q8_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = H(b, 0);
        for (int j = 0; j < 32; j++) y[j] = (sbyte)b[2 + j] * d;
    }

    private static void Q4_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = H(b, 0);
        for (int j = 0; j < 16; j++)
        {
            y[j] = ((b[2 + j] & 0xF) - 8) * d;
            y[j + 16] = ((b[2 + j] >> 4) - 8) * d;
        }
    }

    private static void Q4_1(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = H(b, 0), m = H(b, 2);
        for (int j = 0; j < 16; j++)
        {
            y[j] = (b[4 + j] & 0xF) * d + m;
            y[j + 16] = (b[4 + j] >> 4) * d + m;
        }
    }

    private static void Q5_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = H(b, 0);
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(b[2..]);
        for (int j = 0; j < 16; j++)
        {
            int h0 = (int)((qh >> j) << 4) & 0x10, h1 = (int)(qh >> (j + 12)) & 0x10;
            y[j] = (((b[6 + j] & 0xF) | h0) - 16) * d;
            y[j + 16] = (((b[6 + j] >> 4) | h1) - 16) * d;
        }
    }

    private static void Q5_1(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = H(b, 0), m = H(b, 2);
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(b[4..]);
        for (int j = 0; j < 16; j++)
        {
            int h0 = (int)((qh >> j) << 4) & 0x10, h1 = (int)(qh >> (j + 12)) & 0x10;
            y[j] = ((b[8 + j] & 0xF) | h0) * d + m;
            y[j + 16] = ((b[8 + j] >> 4) | h1) * d + m;
        }
    }

    private static void Q2_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = H(b, BlockLayout.Q2_K_D), min = H(b, BlockLayout.Q2_K_DMin);
        int o = 0, g = 0;
        for (int n = 0; n < 2; n++)
        {
            var q = b.Slice(BlockLayout.Q2_K_Qs + 32 * n, 32);
            for (int shift = 0; shift < 8; shift += 2)
            {
                for (int half = 0; half < 2; half++, g++)
                {
                    int sc = b[g];
                    float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    for (int l = 0; l < 16; l++) y[o++] = dl * ((q[16 * half + l] >> shift) & 3) - ml;
                }
            }
        }
    }

    private static void Q3_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float dAll = H(b, BlockLayout.Q3_K_D);
        Span<int> sc = stackalloc int[16];
        BlockLayout.Q3KScales(b.Slice(BlockLayout.Q3_K_Scales, 12), sc);
        var hm = b[..32];
        int o = 0, g = 0, m = 1;
        for (int n = 0; n < 2; n++)
        {
            var q = b.Slice(BlockLayout.Q3_K_Qs + 32 * n, 32);
            for (int shift = 0; shift < 8; shift += 2, m <<= 1)
            {
                for (int half = 0; half < 2; half++, g++)
                {
                    float dl = dAll * sc[g];
                    for (int l = 16 * half; l < 16 * half + 16; l++)
                        y[o++] = dl * (((q[l] >> shift) & 3) - ((hm[l] & m) != 0 ? 0 : 4));
                }
            }
        }
    }

    private static void Q4_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = H(b, 0), min = H(b, BlockLayout.Q4_K_DMin);
        var scales = b.Slice(BlockLayout.Q4_K_Scales, 12);
        for (int c = 0; c < 4; c++)
        {
            var q = b.Slice(BlockLayout.Q4_K_Qs + 32 * c, 32);
            BlockLayout.ScaleMinK4(2 * c, scales, out int s1, out int m1);
            BlockLayout.ScaleMinK4(2 * c + 1, scales, out int s2, out int m2);
            float d1 = d * s1, mm1 = min * m1, d2 = d * s2, mm2 = min * m2;
            for (int l = 0; l < 32; l++) y[64 * c + l] = d1 * (q[l] & 0xF) - mm1;
            for (int l = 0; l < 32; l++) y[64 * c + 32 + l] = d2 * (q[l] >> 4) - mm2;
        }
    }

    private static void Q5_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = H(b, 0), min = H(b, BlockLayout.Q5_K_DMin);
        var scales = b.Slice(BlockLayout.Q5_K_Scales, 12);
        var qh = b.Slice(BlockLayout.Q5_K_Qh, 32);
        for (int c = 0; c < 4; c++)
        {
            var q = b.Slice(BlockLayout.Q5_K_Qs + 32 * c, 32);
            BlockLayout.ScaleMinK4(2 * c, scales, out int s1, out int m1);
            BlockLayout.ScaleMinK4(2 * c + 1, scales, out int s2, out int m2);
            float d1 = d * s1, mm1 = min * m1, d2 = d * s2, mm2 = min * m2;
            int u1 = 1 << (2 * c), u2 = 2 << (2 * c);
            for (int l = 0; l < 32; l++) y[64 * c + l] = d1 * ((q[l] & 0xF) + ((qh[l] & u1) != 0 ? 16 : 0)) - mm1;
            for (int l = 0; l < 32; l++) y[64 * c + 32 + l] = d2 * ((q[l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0)) - mm2;
        }
    }

    private static void Q6_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = H(b, BlockLayout.Q6_K_D);
        for (int n = 0; n < 2; n++)
        {
            var ql = b.Slice(64 * n, 64);
            var qh = b.Slice(BlockLayout.Q6_K_Qh + 32 * n, 32);
            var sc = MemoryMarshal.Cast<byte, sbyte>(b.Slice(BlockLayout.Q6_K_Scales + 8 * n, 8));
            var yy = y.Slice(128 * n, 128);
            for (int l = 0; l < 32; l++)
            {
                int s = l / 16;
                int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                yy[l] = d * sc[s] * q1;
                yy[l + 32] = d * sc[s + 2] * q2;
                yy[l + 64] = d * sc[s + 4] * q3;
                yy[l + 96] = d * sc[s + 6] * q4;
            }
        }
    }

    // ---- vectorized paths (each element is one rounding of the same product, so they equal the scalar path) ----

    private static unsafe void F16Simd(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int n = dst.Length, i = 0;
        fixed (byte* s = src)
        fixed (float* d = dst)
        {
            ushort* h = (ushort*)s;
            if (Vector256.IsHardwareAccelerated)
                for (; i + 8 <= n; i += 8)
                    HalfBits.ToSingle(Vector256.WidenLower(Vector256.Create(Vector128.Load(h + i), Vector128<ushort>.Zero))).Store(d + i);
            for (; i < n; i++) d[i] = HalfBits.ToSingle(h[i]);
        }
    }

    private static unsafe void Bf16Simd(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int n = dst.Length, i = 0;
        fixed (byte* s = src)
        fixed (float* d = dst)
        {
            ushort* h = (ushort*)s;
            if (Vector256.IsHardwareAccelerated)
                for (; i + 8 <= n; i += 8)
                    (Vector256.WidenLower(Vector256.Create(Vector128.Load(h + i), Vector128<ushort>.Zero)) << 16).AsSingle().Store(d + i);
            for (; i < n; i++) d[i] = HalfBits.Bf16ToSingle(h[i]);
        }
    }

    /// <summary>o[0..32) = q · d.</summary>
    private static unsafe void StoreScaled(Vector256<sbyte> q, Vector256<float> d, float* o)
    {
        var (s0, s1) = Vector256.Widen(q);
        var (i0, i1) = Vector256.Widen(s0);
        var (i2, i3) = Vector256.Widen(s1);
        (Vector256.ConvertToSingle(i0) * d).Store(o);
        (Vector256.ConvertToSingle(i1) * d).Store(o + 8);
        (Vector256.ConvertToSingle(i2) * d).Store(o + 16);
        (Vector256.ConvertToSingle(i3) * d).Store(o + 24);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Q8_0Simd(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (!Vector256.IsHardwareAccelerated) { RowScalar(GgmlType.Q8_0, src, dst); return; }
        fixed (byte* s = src)
        fixed (float* y = dst)
        {
            for (int b = 0, nb = dst.Length / 32; b < nb; b++)
            {
                byte* blk = s + b * 34;
                var d = Vector256.Create(HalfBits.ToSingle(*(ushort*)blk));
                var q = Vector256.Load((sbyte*)blk + 2);
                StoreScaled(q, d, y + 32 * b);
            }
        }
    }

    private static unsafe void Q4_0Simd(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (!Vector256.IsHardwareAccelerated) { RowScalar(GgmlType.Q4_0, src, dst); return; }
        fixed (byte* s = src)
        fixed (float* y = dst)
        {
            for (int b = 0, nb = dst.Length / 32; b < nb; b++)
            {
                byte* blk = s + b * 18;
                var d = Vector256.Create(HalfBits.ToSingle(*(ushort*)blk));
                var v = Vector128.Load(blk + 2);
                var lo = (v & Vector128.Create((byte)0xF)).AsSByte() - Vector128.Create((sbyte)8);
                var hi = (Vector128.ShiftRightLogical(v, 4)).AsSByte() - Vector128.Create((sbyte)8);
                var q = Vector256.Create(lo, hi); // once per 32 values: not on a hot path
                StoreScaled(q, d, y + 32 * b);
            }
        }
    }
}
