using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>
/// Q2_K and Q3_K repacked for 8 rows at a time, the same bytes as plain. Both keep 2-bit quants in 64 bytes per
/// super-block (byte 32n + l holds elements 128n + 32s + l in bits 2s, 2s+1); Q3_K adds a third bit per element
/// (bit 4n + s of hmask byte l) and 16 signed 6-bit scales, Q2_K a 4-bit scale and min per 16 elements. For each
/// group of 8 rows and super-block:
/// <code>
/// Q2_K (672 bytes)                          Q3_K (880 bytes)
///    0  d[8]     f16, row r at 2r              0  d[8]  f16, row r at 2r
///   16  dmin[8]  f16                          16  scale low nibbles [2][32]: byte 32v+i holds S[64v+i] | S[64v+32+i] &lt;&lt; 4
///   32  scales[16][8]: sub-block j of row     80  scale high bits [32]: byte i holds bits 4,5 of S[i], S[32+i], S[64+i], S[96+i]
///       r at 8j + r (scale | min &lt;&lt; 4)        112  hmask[8 t][8 r][4]: hmask bytes 4t.. of row r at 32t + 4r
///  160  qs[2 n][8 t][8 r][4]: qs bytes       368  qs[2 n][8 t][8 r][4] as Q2_K's
///       32n+4t.. of row r at 32(8n+t) + 4r
/// </code>
/// where S[8j + r] is the 6-bit scale (plus 32) of sub-block j of row r. A 32-byte chunk (n, t) then gives, for each
/// s, elements 128n+32s+4t..+3 of all 8 rows (row r in lane r, sub-block 8n + 2s + t/4), so a 4-byte broadcast of the
/// activations makes every row's partial dot in its own lane; Q3_K's 128 scales decode with four shifts and masks
/// per 32, as Q6_K's quants do.
/// </summary>
public static class LowBitKx8
{
    public const int Rows = Interleaved8Kernel.Rows;

    /// <summary>Whether this machine has the kernels (AVX2).</summary>
    public static bool IsSupported => Avx2.IsSupported;

    internal const int Q2Scales = 32, Q2Quants = 160, Q3ScaleLow = 16, Q3ScaleHigh = 80, Q3Hmask = 112, Q3Quants = 368;

    public static void Repack(GgmlType type, ReadOnlySpan<byte> src, Span<byte> dst, int rows, int cols)
    {
        switch (type)
        {
            case GgmlType.Q2_K: Interleave8.Repack(src, dst, rows, cols / 256, 84, PlaceQ2); break;
            case GgmlType.Q3_K: Interleave8.Repack(src, dst, rows, cols / 256, 110, PlaceQ3); break;
            default: throw new NotSupportedException($"no 2/3-bit interleaved layout for {GgmlTypeInfo.Name(type)}");
        }
    }

    private static void PlaceQ2(ReadOnlySpan<byte> i, Span<byte> o, int r)
    {
        i.Slice(BlockLayout.Q2_K_D, 2).CopyTo(o.Slice(2 * r, 2));
        i.Slice(BlockLayout.Q2_K_DMin, 2).CopyTo(o.Slice(16 + 2 * r, 2));
        for (int j = 0; j < 16; j++) o[Q2Scales + 8 * j + r] = i[j];
        PlaceQuants(i.Slice(BlockLayout.Q2_K_Qs, 64), o[Q2Quants..], r);
    }

    private static void PlaceQ3(ReadOnlySpan<byte> i, Span<byte> o, int r)
    {
        // Rows share the scale bytes; Interleave8.Repack places rows 0..7 of a group block in order, so row 0 clears them.
        if (r == 0) o.Slice(Q3ScaleLow, Q3Hmask - Q3ScaleLow).Clear();
        Span<int> sc = stackalloc int[16];
        BlockLayout.Q3KScales(i.Slice(BlockLayout.Q3_K_Scales, 12), sc);
        for (int j = 0; j < 16; j++)
        {
            int u = sc[j] + 32, at = 8 * j + r, w = at % 64;
            o[Q3ScaleLow + 32 * (at / 64) + w % 32] |= (byte)((u & 0xF) << (w < 32 ? 0 : 4));
            o[Q3ScaleHigh + at % 32] |= (byte)((u >> 4) << (2 * (at / 32)));
        }
        i.Slice(BlockLayout.Q3_K_D, 2).CopyTo(o.Slice(2 * r, 2));
        for (int t = 0; t < 8; t++) i.Slice(4 * t, 4).CopyTo(o.Slice(Q3Hmask + 32 * t + 4 * r, 4));
        PlaceQuants(i.Slice(BlockLayout.Q3_K_Qs, 64), o[Q3Quants..], r);
    }

    private static void PlaceQuants(ReadOnlySpan<byte> qs, Span<byte> o, int r)
    {
        for (int n = 0; n < 2; n++)
            for (int t = 0; t < 8; t++) qs.Slice(32 * n + 4 * t, 4).CopyTo(o.Slice(32 * (8 * n + t) + 4 * r, 4));
    }
}

/// <summary>Q2_K or Q3_K, as the interleaved kernel tells them apart (Q3_K: a third quant bit and signed scales).</summary>
internal interface ILowBitKFormat : IKFormat
{
    static abstract bool HasHigh { get; }
}

/// <summary>
/// Q2_K/Q3_K × Q8_K over the interleaved layout, 8 rows per step: per sub-block an exact int32 dot of the unsigned
/// quants for each row, times the row's scale; per super-block the offset (Q3_K: 4·Σ scale·Σx) or minimum
/// (Q2_K: Σ min·Σx, times dmin) from the activations' 16-element sums, then d·xd in float (ggml's vec_dot_q2_K_q8_K
/// and vec_dot_q3_K_q8_K, 8 rows at once). Rows past the last whole group go to the plain kernel.
/// </summary>
internal sealed unsafe class LowBitKx8Kernel<T>() : Interleaved8Kernel(new KQuantKernel<T>()) where T : struct, ILowBitKFormat
{
    // Inlined by hand: a static property of a generic class, read in AggressiveOptimization code, stayed a call.
    private static int GroupBlockBytes
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => T.HasHigh ? 880 : 672;
    }

    private static int QuantsOff
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => T.HasHigh ? LowBitKx8.Q3Quants : LowBitKx8.Q2Quants;
    }

    protected override bool SimdSupported => LowBitKx8.IsSupported;

    protected override void Group(byte* g, byte* x, int cols, float* dots)
    {
        if (Kernels.UseVnni) One<VnniDot>(g, x, cols, dots);
        else One<MaddDot>(g, x, cols, dots);
    }

    protected override void GroupTile(byte* g, byte* x, long pb, int cols, float* dots)
    {
        if (Kernels.UseVnni) Tile4<VnniDot>(g, x, pb, cols, dots);
        else Tile4<MaddDot>(g, x, pb, cols, dots);
    }

    /// <summary>
    /// The super-block's scales S[8j + r] (Q3_K: minus 32) into <paramref name="s"/>, and the coefficients of the
    /// activation sums into <paramref name="k"/> (Q2_K: the minima; Q3_K: the scales again, <paramref name="k"/> = s).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scales(byte* blk, sbyte* s, sbyte* k)
    {
        var low4 = Vector256.Create((byte)0x0F);
        if (T.HasHigh)
        {
            var two = Vector256.Create((byte)0x30);
            var off = Vector256.Create((byte)32);
            var a = Vector256.Load(blk + LowBitKx8.Q3ScaleLow);
            var b = Vector256.Load(blk + LowBitKx8.Q3ScaleLow + 32);
            var h = Vector256.Load(blk + LowBitKx8.Q3ScaleHigh).AsUInt16();
            (((a & low4) | ((h << 4).AsByte() & two)) - off).Store((byte*)s);
            ((((a.AsUInt16() >> 4).AsByte() & low4) | ((h << 2).AsByte() & two)) - off).Store((byte*)s + 32);
            (((b & low4) | (h.AsByte() & two)) - off).Store((byte*)s + 64);
            ((((b.AsUInt16() >> 4).AsByte() & low4) | ((h >> 2).AsByte() & two)) - off).Store((byte*)s + 96);
        }
        else
        {
            for (int v = 0; v < 4; v++)
            {
                var raw = Vector256.Load(blk + LowBitKx8.Q2Scales + 32 * v);
                (raw & low4).Store((byte*)s + 32 * v);
                ((raw.AsUInt16() >> 4).AsByte() & low4).Store((byte*)k + 32 * v);
            }
        }
    }

    /// <summary>
    /// Sub-block j's 8 row scales for vpmaddwd against a sub-block accumulator: with VNNI its int32 lanes (each fits
    /// int16: 16·7·128) times the scale in the low half; without, its two int16 pair sums times the scale in both.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> ScaleFor<TDot>(sbyte* s, int j) where TDot : struct, IByteDot
    {
        var s32 = Avx2.ConvertToVector256Int32(s + 8 * j) & Vector256.Create(0xFFFF);
        return (typeof(TDot) == typeof(VnniDot) ? s32 : s32 | (s32 << 16)).AsInt16();
    }

    /// <summary>Quants of chunk (n, t) for s: elements 128n+32s+4t..+3 of the 8 rows (0..3, Q3_K 0..7); n, s constants at each call.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Quants(byte* blk, int n, int t, int s)
    {
        var v = Vector256.Load(blk + QuantsOff + 32 * (8 * n + t)).AsUInt16();
        var u = (v >> (2 * s)).AsByte() & Vector256.Create((byte)3);
        if (T.HasHigh)
        {
            // bit 4n+s of the element's hmask byte, moved to bit 2 (16-bit shifts by at most 5 keep it in its byte)
            var h = Vector256.Load(blk + LowBitKx8.Q3Hmask + 32 * t).AsUInt16();
            int bit = 4 * n + s;
            var hb = bit >= 2 ? h >> (bit - 2) : h << (2 - bit);
            u |= hb.AsByte() & Vector256.Create((byte)4);
        }
        return u;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> X(byte* x) => Avx2.BroadcastScalarToVector256((int*)x).AsSByte();

    /// <summary>Rows' pairs of coefficients for sub-blocks 2p, 2p+1 (lane r = (k[2p][r], k[2p+1][r])), for vpmaddwd against a token's pair of sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Pair(sbyte* k, int p) =>
        Avx2.ConvertToVector256Int16(Ssse3.Shuffle(Vector128.Load((byte*)k + 16 * p), Vector128.Create((byte)0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15)).AsSByte());

    /// <summary>The float step of a super-block: Q3_K d·xd·(Σ − 4C); Q2_K xd·(d·Σ − dmin·C).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Finish(Vector256<int> sumi, Vector256<int> c, Vector256<float> d, Vector256<float> dmin, float* xd, Vector256<float> acc)
    {
        var xv = Avx.BroadcastScalarToVector256(xd);
        if (T.HasHigh) return Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sumi - (c << 2)), d * xv, acc);
        acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sumi), d * xv, acc);
        return Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(c), -(dmin * xv), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void One<TDot>(byte* g, byte* x, int cols, float* dots) where TDot : struct, IByteDot
    {
        var L = new Q8KLayout(cols);
        sbyte* s = stackalloc sbyte[256];
        sbyte* k = T.HasHigh ? s : s + 128;
        var acc = Vector256<float>.Zero;
        byte* blk = g;
        for (int b = 0; b < L.Blocks; b++, blk += GroupBlockBytes)
        {
            Interleave8.PrefetchAhead(blk, GroupBlockBytes);
            Scales(blk, s, k);
            byte* xb = x + 256 * b;
            var sumi = Half1<TDot>(blk, 0, xb, s) + Half1<TDot>(blk, 1, xb, s);
            short* bs = (short*)(x + L.BsumOff) + 16 * b;
            var c = Vector256<int>.Zero;
            for (int p = 0; p < 8; p++) c += Avx2.MultiplyAddAdjacent(Pair(k, p), Avx2.BroadcastScalarToVector256((int*)(bs + 2 * p)).AsInt16());
            acc = Finish(sumi, c, HalfBits.ToSingleFinite((ushort*)blk), T.HasHigh ? default : HalfBits.ToSingleFinite((ushort*)(blk + 16)), (float*)(x + L.DOff) + b, acc);
        }
        acc.Store(dots);
    }

    /// <summary>Half n of a super-block (sub-blocks 8n..8n+7) for one token: Σ scale·dot, 8 rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Half1<TDot>(byte* blk, int n, byte* xb, sbyte* s) where TDot : struct, IByteDot
    {
        var sumi = Vector256<int>.Zero;
        for (int h = 0; h < 2; h++)
        {
            sumi += Sub1<TDot>(blk, n, h, 0, xb, s);
            sumi += Sub1<TDot>(blk, n, h, 1, xb, s);
            sumi += Sub1<TDot>(blk, n, h, 2, xb, s);
            sumi += Sub1<TDot>(blk, n, h, 3, xb, s);
        }
        return sumi;
    }

    /// <summary>Sub-block 8n + 2s + h for one token: its 16 elements (4 chunks), times the rows' scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Sub1<TDot>(byte* blk, int n, int h, int s, byte* xb, sbyte* sc) where TDot : struct, IByteDot
    {
        Vector256<int> a = default;
        byte* xe = xb + 128 * n + 32 * s;
        for (int t = 4 * h; t < 4 * h + 4; t++) a = TDot.AddNarrow(a, Quants(blk, n, t, s), X(xe + 4 * t));
        return Avx2.MultiplyAddAdjacent(a.AsInt16(), ScaleFor<TDot>(sc, 8 * n + 2 * s + h));
    }

    /// <summary>
    /// Four tokens per pass: each sub-block's chunks are unpacked once for the four, and the scales and their pairs
    /// are decoded once per super-block.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4<TDot>(byte* g, byte* x, long pb, int cols, float* dots) where TDot : struct, IByteDot
    {
        var L = new Q8KLayout(cols);
        sbyte* s = stackalloc sbyte[256];
        sbyte* k = T.HasHigh ? s : s + 128;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        byte* blk = g;
        for (int b = 0; b < L.Blocks; b++, blk += GroupBlockBytes)
        {
            Scales(blk, s, k);
            byte* xb = x + 256 * b;
            Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default;
            Half4<TDot>(blk, 0, xb, pb, s, ref i0, ref i1, ref i2, ref i3);
            Half4<TDot>(blk, 1, xb, pb, s, ref i0, ref i1, ref i2, ref i3);
            // Σ_j k_j·Σx_j per row and token, sub-blocks in pairs.
            Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default;
            byte* bs = x + L.BsumOff + 32 * b;
            for (int p = 0; p < 8; p++, bs += 4)
            {
                var kp = Pair(k, p);
                c0 += Avx2.MultiplyAddAdjacent(kp, Avx2.BroadcastScalarToVector256((int*)bs).AsInt16());
                c1 += Avx2.MultiplyAddAdjacent(kp, Avx2.BroadcastScalarToVector256((int*)(bs + pb)).AsInt16());
                c2 += Avx2.MultiplyAddAdjacent(kp, Avx2.BroadcastScalarToVector256((int*)(bs + 2 * pb)).AsInt16());
                c3 += Avx2.MultiplyAddAdjacent(kp, Avx2.BroadcastScalarToVector256((int*)(bs + 3 * pb)).AsInt16());
            }
            var d = HalfBits.ToSingleFinite((ushort*)blk);
            var dmin = T.HasHigh ? default : HalfBits.ToSingleFinite((ushort*)(blk + 16));
            float* xd = (float*)(x + L.DOff) + b;
            a0 = Finish(i0, c0, d, dmin, xd, a0);
            a1 = Finish(i1, c1, d, dmin, (float*)((byte*)xd + pb), a1);
            a2 = Finish(i2, c2, d, dmin, (float*)((byte*)xd + 2 * pb), a2);
            a3 = Finish(i3, c3, d, dmin, (float*)((byte*)xd + 3 * pb), a3);
        }
        a0.Store(dots);
        a1.Store(dots + 8);
        a2.Store(dots + 16);
        a3.Store(dots + 24);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Half4<TDot>(byte* blk, int n, byte* xb, long pb, sbyte* s,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3) where TDot : struct, IByteDot
    {
        for (int h = 0; h < 2; h++)
        {
            Sub4<TDot>(blk, n, h, 0, xb, pb, s, ref i0, ref i1, ref i2, ref i3);
            Sub4<TDot>(blk, n, h, 1, xb, pb, s, ref i0, ref i1, ref i2, ref i3);
            Sub4<TDot>(blk, n, h, 2, xb, pb, s, ref i0, ref i1, ref i2, ref i3);
            Sub4<TDot>(blk, n, h, 3, xb, pb, s, ref i0, ref i1, ref i2, ref i3);
        }
    }

    /// <summary>Sub-block 8n + 2s + h for four tokens <paramref name="pb"/> apart: each chunk unpacked once, four dots.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Sub4<TDot>(byte* blk, int n, int h, int s, byte* xb, long pb, sbyte* sc,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3) where TDot : struct, IByteDot
    {
        Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
        byte* xe = xb + 128 * n + 32 * s + 16 * h;
        for (int t = 4 * h; t < 4 * h + 4; t++, xe += 4)
        {
            var q = Quants(blk, n, t, s);
            s0 = TDot.AddNarrow(s0, q, X(xe));
            s1 = TDot.AddNarrow(s1, q, X(xe + pb));
            s2 = TDot.AddNarrow(s2, q, X(xe + 2 * pb));
            s3 = TDot.AddNarrow(s3, q, X(xe + 3 * pb));
        }
        var scale = ScaleFor<TDot>(sc, 8 * n + 2 * s + h);
        i0 += Avx2.MultiplyAddAdjacent(s0.AsInt16(), scale);
        i1 += Avx2.MultiplyAddAdjacent(s1.AsInt16(), scale);
        i2 += Avx2.MultiplyAddAdjacent(s2.AsInt16(), scale);
        i3 += Avx2.MultiplyAddAdjacent(s3.AsInt16(), scale);
    }

    /// <summary>Scalar twin of <see cref="Group"/>, reading the interleaved layout element by element.</summary>
    protected override void GroupScalar(byte* g, byte* x, int cols, float* dots)
    {
        var L = new Q8KLayout(cols);
        sbyte* xq = (sbyte*)x;
        float* xd = (float*)(x + L.DOff);
        for (int r = 0; r < LowBitKx8.Rows; r++) dots[r] = 0;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = g + b * GroupBlockBytes;
            short* bs = (short*)(x + L.BsumOff) + 16 * b;
            for (int r = 0; r < LowBitKx8.Rows; r++)
            {
                int sumi = 0, summ = 0;
                for (int j = 0; j < 16; j++)
                {
                    int n = j / 8, s = j % 8 / 2, h = j % 2, dot = 0;
                    for (int l = 16 * h; l < 16 * h + 16; l++)
                    {
                        int t = l / 4, e = l % 4;
                        int u = (blk[QuantsOff + 32 * (8 * n + t) + 4 * r + e] >> (2 * s)) & 3;
                        if (T.HasHigh) u |= ((blk[LowBitKx8.Q3Hmask + 32 * t + 4 * r + e] >> (4 * n + s)) & 1) << 2;
                        dot += u * xq[256 * b + 128 * n + 32 * s + l];
                    }
                    int at = 8 * j + r, scale, coef;
                    if (T.HasHigh)
                    {
                        int w = at % 64, lowByte = blk[LowBitKx8.Q3ScaleLow + 32 * (at / 64) + w % 32];
                        int low = w < 32 ? lowByte & 0xF : lowByte >> 4;
                        int high = (blk[LowBitKx8.Q3ScaleHigh + at % 32] >> (2 * (at / 32))) & 3;
                        scale = coef = (low | high << 4) - 32;
                    }
                    else
                    {
                        scale = blk[LowBitKx8.Q2Scales + at] & 0xF;
                        coef = blk[LowBitKx8.Q2Scales + at] >> 4;
                    }
                    sumi += scale * dot;
                    summ += coef * bs[j];
                }
                float d = HalfBits.ToSingleFast(((ushort*)blk)[r]);
                dots[r] += T.HasHigh
                    ? xd[b] * d * (sumi - 4 * summ)
                    : xd[b] * (d * sumi - HalfBits.ToSingleFast(((ushort*)(blk + 16))[r]) * summ);
            }
        }
    }
}
