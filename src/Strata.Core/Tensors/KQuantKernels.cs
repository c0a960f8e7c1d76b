using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>
/// One K-quant super-block in a common shape: 256 unsigned quants u, a scale per 16 elements (repeated 8 times,
/// one per int16 pair lane), a min per 16 elements. Value = d*scale*u - dmin*min, so
/// dot = xd * (d * Σ scale·(u·x) - dmin * Σ min·bsum).
/// </summary>
[InlineArray(256)]
internal struct Quants256 { private byte _e; }

[InlineArray(128)]
internal struct PairScales { private short _e; }

[InlineArray(16)]
internal struct GroupMins { private short _e; }

internal struct KUnpacked
{
    public Quants256 U;
    public PairScales Scales;
    public GroupMins Mins;
    public float D, DMin;
}

internal unsafe interface IKFormat
{
    static abstract GgmlType Type { get; }
    static abstract int Bytes { get; }
    static abstract void Unpack(byte* blk, ref KUnpacked k);
}

/// <summary>K-quant weights x Q8_K activations (ggml's vec_dot_qN_K_q8_K): exact int32 sums per super-block.</summary>
internal unsafe class KQuantKernel<T> : RowKernel where T : struct, IKFormat
{
    public override GgmlType Type => T.Type;
    public override int PreparedBytes(int cols) => new Q8KLayout(cols).Bytes;
    public override void Prepare(ReadOnlySpan<float> x, Span<byte> prepared) => ActivationQuant.Q8K(x, prepared);
    public override object PrepareKey => ActivationQuant.Q8KKey;

    protected override float DotRow(byte* w, byte* x, int cols)
    {
        if (!Kernels.Int256) return DotRowScalar(w, x, cols);
        var L = new Q8KLayout(cols);
        KUnpacked k = default;
        byte* u = (byte*)Unsafe.AsPointer(ref k.U);
        short* sc = (short*)Unsafe.AsPointer(ref k.Scales);
        short* mn = (short*)Unsafe.AsPointer(ref k.Mins);
        float sum = 0;
        for (int b = 0; b < L.Blocks; b++)
        {
            T.Unpack(w + b * T.Bytes, ref k);
            sbyte* xq = (sbyte*)x + 256 * b;
            int sumi;
            if (Kernels.Int512)
            {
                var acc = IntDot.DotScaled(Vector512.Load(u), Vector512.Load(xq), Vector512.Load(sc));
                acc += IntDot.DotScaled(Vector512.Load(u + 64), Vector512.Load(xq + 64), Vector512.Load(sc + 32));
                acc += IntDot.DotScaled(Vector512.Load(u + 128), Vector512.Load(xq + 128), Vector512.Load(sc + 64));
                acc += IntDot.DotScaled(Vector512.Load(u + 192), Vector512.Load(xq + 192), Vector512.Load(sc + 96));
                sumi = Vector512.Sum(acc);
            }
            else
            {
                var acc = Vector256<int>.Zero;
                for (int i = 0; i < 8; i++)
                    acc += IntDot.DotScaled(Vector256.Load(u + 32 * i), Vector256.Load(xq + 32 * i), Vector256.Load(sc + 16 * i));
                sumi = Vector256.Sum(acc);
            }
            short* bs = (short*)(x + L.BsumOff) + 16 * b;
            int summ = Vector256.Sum(Avx2.MultiplyAddAdjacent(Vector256.Load(mn), Vector256.Load(bs)));
            float xd = ((float*)(x + L.DOff))[b];
            sum += xd * (k.D * sumi - k.DMin * summ);
        }
        return sum;
    }

    protected override float DotRowScalar(byte* w, byte* x, int cols)
    {
        var L = new Q8KLayout(cols);
        KUnpacked k = default;
        float sum = 0;
        for (int b = 0; b < L.Blocks; b++)
        {
            T.Unpack(w + b * T.Bytes, ref k);
            sbyte* xq = (sbyte*)x + 256 * b;
            short* bs = (short*)(x + L.BsumOff) + 16 * b;
            int sumi = 0, summ = 0;
            for (int g = 0; g < 16; g++)
            {
                int dot = 0;
                for (int j = 16 * g; j < 16 * g + 16; j++) dot += k.U[j] * xq[j];
                sumi += k.Scales[8 * g] * dot;
                summ += k.Mins[g] * bs[g];
            }
            float xd = ((float*)(x + L.DOff))[b];
            sum += xd * (k.D * sumi - k.DMin * summ);
        }
        return sum;
    }
}

internal static unsafe class KUnpack
{
    public static readonly Vector256<byte> Low4 = Vector256.Create((byte)0xF);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Shr(Vector256<byte> v, int n, byte mask) => (v.AsUInt16() >> n).AsByte() & Vector256.Create(mask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Shl(Vector256<byte> v, int n) => (v.AsUInt16() << n).AsByte();

    public static void SetGroup(ref KUnpacked k, int g, int scale, int min)
    {
        short* p = (short*)Unsafe.AsPointer(ref k.Scales) + 8 * g;
        Vector128.Create((short)scale).Store(p);
        k.Mins[g] = (short)min;
    }

    public static float Half(byte* p) => HalfBits.ToSingleFast(*(ushort*)p);

    /// <summary>
    /// Chunk c of a Q4_K/Q5_K super-block: the 32 low nibbles (sub-block 2c) and 32 high nibbles (sub-block 2c+1),
    /// with Q5_K's fifth bits (bits 2c and 2c+1 of qh) added when <paramref name="fifthBit"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector256<byte> Lo, Vector256<byte> Hi) ScaleMinQuants(byte* qs, int c, Vector256<byte> qh, bool fifthBit)
    {
        var q = Vector256.Load(qs + 32 * c);
        var lo = q & Low4;
        var hi = Shr(q, 4, 0xF);
        if (fifthBit)
        {
            lo |= Shl(Shr(qh, 2 * c, 1), 4);
            hi |= Shl(Shr(qh, 2 * c + 1, 1), 4);
        }
        return (lo, hi);
    }

    /// <summary>Half n of a Q6_K super-block: its 128 quants u (0..63, value u − 32) as four runs of 32, in element order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector256<byte> U1, Vector256<byte> U2, Vector256<byte> U3, Vector256<byte> U4) Q6Quants(byte* blk, int n)
    {
        var ql0 = Vector256.Load(blk + 64 * n);
        var ql1 = Vector256.Load(blk + 64 * n + 32);
        var qh = Vector256.Load(blk + BlockLayout.Q6_K_Qh + 32 * n);
        return ((ql0 & Low4) | Shl(qh & Vector256.Create((byte)3), 4),
                (ql1 & Low4) | Shl(Shr(qh, 2, 3), 4),
                Shr(ql0, 4, 0xF) | Shl(Shr(qh, 4, 3), 4),
                Shr(ql1, 4, 0xF) | Shl(Shr(qh, 6, 3), 4));
    }

    /// <summary>The generic unpacked form of a Q4_K/Q5_K super-block (the scalar twin's input).</summary>
    public static void UnpackScaleMin<T>(byte* blk, ref KUnpacked k) where T : struct, IScaleMinKFormat
    {
        byte* u = (byte*)Unsafe.AsPointer(ref k.U);
        var qh = T.QhOffset >= 0 ? Vector256.Load(blk + T.QhOffset) : default;
        for (int c = 0; c < 4; c++)
        {
            var (lo, hi) = ScaleMinQuants(blk + T.QsOffset, c, qh, T.QhOffset >= 0);
            lo.Store(u + 64 * c);
            hi.Store(u + 64 * c + 32);
        }
        KQuantScales.SetK4(blk + T.ScalesOffset, ref k);
        k.D = Half(blk);
        k.DMin = Half(blk + T.DMinOffset);
    }
}

internal unsafe struct Q2KFormat : ILowBitKFormat
{
    public static GgmlType Type => GgmlType.Q2_K;
    public static int Bytes => 84;
    public static bool HasHigh => false;

    public static void Unpack(byte* blk, ref KUnpacked k)
    {
        byte* u = (byte*)Unsafe.AsPointer(ref k.U);
        for (int n = 0; n < 2; n++)
        {
            var q = Vector256.Load(blk + BlockLayout.Q2_K_Qs + 32 * n);
            for (int j = 0; j < 4; j++) KUnpack.Shr(q, 2 * j, 3).Store(u + 128 * n + 32 * j);
        }
        for (int g = 0; g < 16; g++) KUnpack.SetGroup(ref k, g, blk[g] & 0xF, blk[g] >> 4);
        k.D = KUnpack.Half(blk + BlockLayout.Q2_K_D);
        k.DMin = KUnpack.Half(blk + BlockLayout.Q2_K_DMin);
    }
}

internal unsafe struct Q3KFormat : ILowBitKFormat
{
    public static GgmlType Type => GgmlType.Q3_K;
    public static int Bytes => 110;
    public static bool HasHigh => true;

    public static void Unpack(byte* blk, ref KUnpacked k)
    {
        byte* u = (byte*)Unsafe.AsPointer(ref k.U);
        var hm = Vector256.Load(blk);
        for (int n = 0; n < 2; n++)
        {
            var q = Vector256.Load(blk + BlockLayout.Q3_K_Qs + 32 * n);
            for (int j = 0; j < 4; j++)
                (KUnpack.Shr(q, 2 * j, 3) | KUnpack.Shl(KUnpack.Shr(hm, 4 * n + j, 1), 2)).Store(u + 128 * n + 32 * j);
        }
        Span<int> s = stackalloc int[16];
        BlockLayout.Q3KScales(new ReadOnlySpan<byte>(blk + BlockLayout.Q3_K_Scales, 12), s);
        // signed q = u - 4: the offset folds into the min term with dmin = d
        for (int g = 0; g < 16; g++) KUnpack.SetGroup(ref k, g, s[g], 4 * s[g]);
        k.D = k.DMin = KUnpack.Half(blk + BlockLayout.Q3_K_D);
    }
}

internal unsafe struct Q4KFormat : IScaleMinKFormat
{
    public static GgmlType Type => GgmlType.Q4_K;
    public static int Bytes => 144;
    public static int ScalesOffset => BlockLayout.Q4_K_Scales;
    public static int DMinOffset => BlockLayout.Q4_K_DMin;
    public static int QsOffset => BlockLayout.Q4_K_Qs;
    public static int QhOffset => -1;

    public static void Unpack(byte* blk, ref KUnpacked k) => KUnpack.UnpackScaleMin<Q4KFormat>(blk, ref k);
}

internal unsafe struct Q5KFormat : IScaleMinKFormat
{
    public static GgmlType Type => GgmlType.Q5_K;
    public static int Bytes => 176;
    public static int ScalesOffset => BlockLayout.Q5_K_Scales;
    public static int DMinOffset => BlockLayout.Q5_K_DMin;
    public static int QsOffset => BlockLayout.Q5_K_Qs;
    public static int QhOffset => BlockLayout.Q5_K_Qh;

    public static void Unpack(byte* blk, ref KUnpacked k) => KUnpack.UnpackScaleMin<Q5KFormat>(blk, ref k);
}

internal unsafe struct Q6KFormat : IKFormat
{
    public static GgmlType Type => GgmlType.Q6_K;
    public static int Bytes => 210;

    public static void Unpack(byte* blk, ref KUnpacked k)
    {
        byte* u = (byte*)Unsafe.AsPointer(ref k.U);
        for (int n = 0; n < 2; n++)
        {
            var (u1, u2, u3, u4) = KUnpack.Q6Quants(blk, n);
            byte* o = u + 128 * n;
            u1.Store(o);
            u2.Store(o + 32);
            u3.Store(o + 64);
            u4.Store(o + 96);
        }
        sbyte* s = (sbyte*)(blk + BlockLayout.Q6_K_Scales);
        // signed q = u - 32: the offset folds into the min term with dmin = d
        for (int g = 0; g < 16; g++) KUnpack.SetGroup(ref k, g, s[g], 32 * s[g]);
        k.D = k.DMin = KUnpack.Half(blk + BlockLayout.Q6_K_D);
    }
}

internal static unsafe class KQuantScales
{
    /// <summary>Q4_K/Q5_K: 8 (scale, min) pairs of 6 bits, each covering 32 elements = two 16-groups.</summary>
    public static void SetK4(byte* scales, ref KUnpacked k)
    {
        var q = new ReadOnlySpan<byte>(scales, 12);
        for (int j = 0; j < 8; j++)
        {
            BlockLayout.ScaleMinK4(j, q, out int s, out int m);
            KUnpack.SetGroup(ref k, 2 * j, s, m);
            KUnpack.SetGroup(ref k, 2 * j + 1, s, m);
        }
    }
}
