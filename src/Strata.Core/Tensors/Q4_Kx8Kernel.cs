using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>
/// Q4_K repacked for matrix-vector products, the same bytes as plain. For each group of 8 rows and each 256-element
/// super-block (1152 bytes):
/// <code>
///   0  d[8]     f16, row r at 2r          64  scale bytes 4..7 of each row (4r)
///  16  dmin[8]  f16                       96  scale bytes 8..11 of each row (4r)
///  32  scale bytes 0..3 of each row (4r) 128  quants: [chunk c 0..3][t 0..7][row r 0..7][4 bytes]
/// </code>
/// Quant bytes 32c+4t..32c+4t+3 of row r hold elements 64c+4t.. in their low nibbles (sub-block 2c) and
/// 64c+32+4t.. in their high nibbles (sub-block 2c+1). So one byte multiply-add against 4 broadcast activation bytes
/// gives each row's partial dot in its own lane, and the 6-bit scales of all 8 rows unpack in a few vector ops.
/// </summary>
public static class Q4_Kx8
{
    public const int Rows = Interleaved8Kernel.Rows;
    private const int BlockBytes = 144;

    /// <summary>Whether this machine has the kernel (AVX2).</summary>
    public static bool IsSupported => Avx2.IsSupported;

    /// <summary>Repacks a plain Q4_K matrix into the interleaved layout; rows past the last whole group are copied as they are.</summary>
    public static void Repack(ReadOnlySpan<byte> src, Span<byte> dst, int rows, int cols) =>
        Interleave8.Repack(src, dst, rows, cols / 256, BlockBytes, static (i, o, r) =>
        {
            i[..2].CopyTo(o.Slice(2 * r, 2));
            i.Slice(BlockLayout.Q4_K_DMin, 2).CopyTo(o.Slice(16 + 2 * r, 2));
            for (int k = 0; k < 3; k++) i.Slice(BlockLayout.Q4_K_Scales + 4 * k, 4).CopyTo(o.Slice(32 + 32 * k + 4 * r, 4));
            for (int c = 0; c < 4; c++)
                for (int t = 0; t < 8; t++)
                    i.Slice(BlockLayout.Q4_K_Qs + 32 * c + 4 * t, 4).CopyTo(o.Slice(128 + 256 * c + 32 * t + 4 * r, 4));
        });
}

/// <summary>
/// Q4_K × Q8_K over the interleaved layout: 8 rows per step. Per super-block each row's exact int32 sum
/// Σ scale·(q·x) and Σ min·bsum (as ggml's vec_dot_q4_K_q8_K), then d·xd and dmin·xd in float.
/// </summary>
internal sealed unsafe class Q4_Kx8Kernel() : Interleaved8Kernel(new ScaleMinKKernel<Q4KFormat>())
{
    protected override bool SimdSupported => Q4_Kx8.IsSupported;

    // vpshufb masks (the same in both 128-bit halves, each half holding rows r' = 0..3 in 4-byte lanes): lane r'
    // gets byte 4r'+j zero-extended into both of its int16 halves (a scale for both products of a pair), or bytes
    // 4r'+j and 4r'+j+1 (two mins, one per int16).
    private static Vector256<byte> Mask(int first, int second)
    {
        Span<byte> m = stackalloc byte[32];
        for (int h = 0; h < 2; h++)
            for (int r = 0; r < 4; r++)
            {
                m[16 * h + 4 * r] = (byte)(4 * r + first);
                m[16 * h + 4 * r + 1] = 0x80;
                m[16 * h + 4 * r + 2] = (byte)(4 * r + second);
                m[16 * h + 4 * r + 3] = 0x80;
            }
        return Vector256.Create<byte>(m);
    }

    private static readonly Vector256<byte> Scale0 = Mask(0, 0), Scale1 = Mask(1, 1), Scale2 = Mask(2, 2), Scale3 = Mask(3, 3);
    internal static readonly Vector256<byte> Min01 = Mask(0, 1), Min23 = Mask(2, 3);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void Group(byte* g, byte* x, int cols, float* dots)
    {
        var L = new Q8KLayout(cols);
        float* xds = (float*)(x + L.DOff);
        short* bsums = (short*)(x + L.BsumOff);
        var acc = Vector256<float>.Zero;
        var nibble = Vector256.Create((byte)0x0F);
        Vector256<byte> s0 = Scale0, s1 = Scale1, s2 = Scale2, s3 = Scale3, m01 = Min01, m23 = Min23;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = g + b * (Q4_Kx8.Rows * 144);
            // ggml's get_scale_min_k4 for all 8 rows at once: lane r holds row r's scales 0..3 / 4..7 and mins 0..3 / 4..7.
            var u0 = Vector256.Load((uint*)(blk + 32));
            var u1 = Vector256.Load((uint*)(blk + 64));
            var u2 = Vector256.Load((uint*)(blk + 96));
            var low6 = Vector256.Create(0x3f3f3f3fu);
            var low4 = Vector256.Create(0x0f0f0f0fu);
            var low2 = Vector256.Create(0x03030303u);
            var scLo = (u0 & low6).AsByte();
            var scHi = ((u2 & low4) | (((u0 >> 6) & low2) << 4)).AsByte();
            var mnLo = (u1 & low6).AsByte();
            var mnHi = (((u2 >> 4) & low4) | (((u1 >> 6) & low2) << 4)).AsByte();

            sbyte* xq = (sbyte*)x + 256 * b;
            byte* qs = blk + 128;
            var sumi = Vector256<int>.Zero;
            for (int c = 0; c < 4; c++)
            {
                // Each int16 sums 8 pairs of 15·128 at most: 30720, inside int16.
                Vector256<short> lo16 = default, hi16 = default;
                for (int t = 0; t < 8; t++)
                {
                    var v = Vector256.Load(qs + 256 * c + 32 * t);
                    var lo = v & nibble;
                    var hi = (v.AsUInt16() >> 4).AsByte() & nibble;
                    lo16 += Avx2.MultiplyAddAdjacent(lo, Vector256.Create(*(int*)(xq + 64 * c + 4 * t)).AsSByte());
                    hi16 += Avx2.MultiplyAddAdjacent(hi, Vector256.Create(*(int*)(xq + 64 * c + 32 + 4 * t)).AsSByte());
                }
                var scales = c < 2 ? scLo : scHi;
                var (sa, sb) = (c & 1) == 0 ? (s0, s1) : (s2, s3);
                sumi += Avx2.MultiplyAddAdjacent(lo16, Avx2.Shuffle(scales, sa).AsInt16());
                sumi += Avx2.MultiplyAddAdjacent(hi16, Avx2.Shuffle(scales, sb).AsInt16());
            }
            // Σ_j min_j · (sum of x over sub-block j), the sub-block sums as int16 pairs broadcast to every row.
            short* bs = bsums + 16 * b;
            var mins = Avx2.MultiplyAddAdjacent(Avx2.Shuffle(mnLo, m01).AsInt16(), PairSums(bs, 0))
                     + Avx2.MultiplyAddAdjacent(Avx2.Shuffle(mnLo, m23).AsInt16(), PairSums(bs, 1))
                     + Avx2.MultiplyAddAdjacent(Avx2.Shuffle(mnHi, m01).AsInt16(), PairSums(bs, 2))
                     + Avx2.MultiplyAddAdjacent(Avx2.Shuffle(mnHi, m23).AsInt16(), PairSums(bs, 3));
            var xd = Vector256.Create(xds[b]);
            var d = HalfBits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)blk).ToVector256Unsafe()));
            var dmin = HalfBits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)(blk + 16)).ToVector256Unsafe()));
            acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sumi), d * xd, acc);
            acc = Vector256.FusedMultiplyAdd(-Vector256.ConvertToSingle(mins), dmin * xd, acc);
        }
        acc.Store(dots);
    }

    protected override bool HasTile => true;

    protected override void GroupTile(byte* g, byte* x, long pb, int cols, float* dots)
    {
        if (Kernels.UseVnni) Tile4<VnniDot>(g, x, pb, cols, dots);
        else Tile4<MaddDot>(g, x, pb, cols, dots);
    }

    /// <summary>
    /// Four tokens per pass over the group: the nibbles and the 6-bit scales and mins of all 8 rows are unpacked once;
    /// per token and sub-block an exact int32 dot per row lane, times the row's scale (vpmulld), summed per
    /// super-block, then d·xd and dmin·xd in float as <see cref="Group"/> does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4<TDot>(byte* g, byte* x, long pb, int cols, float* dots) where TDot : struct, IByteDot
    {
        var L = new Q8KLayout(cols);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var nibble = Vector256.Create((byte)0x0F);
        var low8 = Vector256.Create(0xFFu);
        Vector256<byte> m01 = Min01, m23 = Min23;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = g + b * (Q4_Kx8.Rows * 144);
            var u0 = Vector256.Load((uint*)(blk + 32));
            var u1 = Vector256.Load((uint*)(blk + 64));
            var u2 = Vector256.Load((uint*)(blk + 96));
            var low6 = Vector256.Create(0x3f3f3f3fu);
            var low4 = Vector256.Create(0x0f0f0f0fu);
            var low2 = Vector256.Create(0x03030303u);
            var scLo = u0 & low6;
            var scHi = (u2 & low4) | (((u0 >> 6) & low2) << 4);
            var mnLo = (u1 & low6).AsByte();
            var mnHi = (((u2 >> 4) & low4) | (((u1 >> 6) & low2) << 4)).AsByte();

            int o = 256 * b;
            byte* qs = blk + 128;
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
            for (int c = 0; c < 4; c++)
            {
                Vector256<int> l0 = default, l1 = default, l2 = default, l3 = default;
                Vector256<int> h0 = default, h1 = default, h2 = default, h3 = default;
                for (int t = 0; t < 8; t++)
                {
                    var v = Vector256.Load(qs + 256 * c + 32 * t);
                    var lo = v & nibble;
                    var hi = (v.AsUInt16() >> 4).AsByte() & nibble;
                    int ol = o + 64 * c + 4 * t, oh = ol + 32;
                    l0 = TDot.Add(l0, lo, Vector256.Create(*(int*)(x + ol)).AsSByte());
                    h0 = TDot.Add(h0, hi, Vector256.Create(*(int*)(x + oh)).AsSByte());
                    l1 = TDot.Add(l1, lo, Vector256.Create(*(int*)(x + pb + ol)).AsSByte());
                    h1 = TDot.Add(h1, hi, Vector256.Create(*(int*)(x + pb + oh)).AsSByte());
                    l2 = TDot.Add(l2, lo, Vector256.Create(*(int*)(x + 2 * pb + ol)).AsSByte());
                    h2 = TDot.Add(h2, hi, Vector256.Create(*(int*)(x + 2 * pb + oh)).AsSByte());
                    l3 = TDot.Add(l3, lo, Vector256.Create(*(int*)(x + 3 * pb + ol)).AsSByte());
                    h3 = TDot.Add(h3, hi, Vector256.Create(*(int*)(x + 3 * pb + oh)).AsSByte());
                }
                // Sub-blocks 2c and 2c+1: their scales are bytes (2c)%4 and (2c+1)%4 of the low or high scale word.
                var sc = c < 2 ? scLo : scHi;
                int shift = 16 * (c & 1);
                var sa = ((sc >> shift) & low8).AsInt32();
                var sb = ((sc >> (shift + 8)) & low8).AsInt32();
                s0 += Avx2.MultiplyLow(l0, sa) + Avx2.MultiplyLow(h0, sb);
                s1 += Avx2.MultiplyLow(l1, sa) + Avx2.MultiplyLow(h1, sb);
                s2 += Avx2.MultiplyLow(l2, sa) + Avx2.MultiplyLow(h2, sb);
                s3 += Avx2.MultiplyLow(l3, sa) + Avx2.MultiplyLow(h3, sb);
            }
            var d = HalfBits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)blk).ToVector256Unsafe()));
            var dmin = HalfBits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)(blk + 16)).ToVector256Unsafe()));
            var mins01 = Avx2.Shuffle(mnLo, m01).AsInt16();
            var mins23 = Avx2.Shuffle(mnLo, m23).AsInt16();
            var mins45 = Avx2.Shuffle(mnHi, m01).AsInt16();
            var mins67 = Avx2.Shuffle(mnHi, m23).AsInt16();
            a0 = Finish(a0, s0, x, L, b, d, dmin, mins01, mins23, mins45, mins67);
            a1 = Finish(a1, s1, x + pb, L, b, d, dmin, mins01, mins23, mins45, mins67);
            a2 = Finish(a2, s2, x + 2 * pb, L, b, d, dmin, mins01, mins23, mins45, mins67);
            a3 = Finish(a3, s3, x + 3 * pb, L, b, d, dmin, mins01, mins23, mins45, mins67);
        }
        a0.Store(dots);
        a1.Store(dots + 8);
        a2.Store(dots + 16);
        a3.Store(dots + 24);
    }

    /// <summary>One token's super-block: acc + d·xd·Σ scale·dot − dmin·xd·Σ min·bsum, as <see cref="Group"/> computes it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Finish(Vector256<float> acc, Vector256<int> sumi, byte* x, Q8KLayout L, int b, Vector256<float> d, Vector256<float> dmin,
        Vector256<short> m01, Vector256<short> m23, Vector256<short> m45, Vector256<short> m67)
    {
        short* bs = (short*)(x + L.BsumOff) + 16 * b;
        var mins = Avx2.MultiplyAddAdjacent(m01, PairSums(bs, 0)) + Avx2.MultiplyAddAdjacent(m23, PairSums(bs, 1))
                 + Avx2.MultiplyAddAdjacent(m45, PairSums(bs, 2)) + Avx2.MultiplyAddAdjacent(m67, PairSums(bs, 3));
        var xd = Vector256.Create(((float*)(x + L.DOff))[b]);
        acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sumi), d * xd, acc);
        return Vector256.FusedMultiplyAdd(-Vector256.ConvertToSingle(mins), dmin * xd, acc);
    }

    /// <summary>(sum of x over sub-block 2i, over sub-block 2i+1) as an int16 pair in every 32-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> PairSums(short* bs, int i)
    {
        int a = bs[4 * i] + bs[4 * i + 1], c = bs[4 * i + 2] + bs[4 * i + 3];
        return Vector256.Create((a & 0xFFFF) | (c << 16)).AsInt16();
    }

    /// <summary>Scalar twin of <see cref="Group"/>, reading the interleaved layout element by element.</summary>
    protected override void GroupScalar(byte* g, byte* x, int cols, float* dots)
    {
        var L = new Q8KLayout(cols);
        sbyte* xq = (sbyte*)x;
        float* xds = (float*)(x + L.DOff);
        short* bsums = (short*)(x + L.BsumOff);
        Span<byte> scaleBytes = stackalloc byte[12];
        for (int r = 0; r < Q4_Kx8.Rows; r++) dots[r] = 0;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = g + b * (Q4_Kx8.Rows * 144);
            for (int r = 0; r < Q4_Kx8.Rows; r++)
            {
                for (int k = 0; k < 3; k++)
                    for (int i = 0; i < 4; i++) scaleBytes[4 * k + i] = blk[32 + 32 * k + 4 * r + i];
                int sumi = 0, summ = 0;
                for (int j = 0; j < 8; j++)
                {
                    BlockLayout.ScaleMinK4(j, scaleBytes, out int scale, out int min);
                    int c = j / 2, shift = 4 * (j % 2), dot = 0;
                    for (int e = 0; e < 32; e++)
                    {
                        int q = (blk[128 + 256 * c + 32 * (e / 4) + 4 * r + e % 4] >> shift) & 0xF;
                        dot += q * xq[256 * b + 32 * j + e];
                    }
                    sumi += scale * dot;
                    summ += min * (bsums[16 * b + 2 * j] + bsums[16 * b + 2 * j + 1]);
                }
                float xd = xds[b];
                dots[r] += xd * HalfBits.ToSingleFast(((ushort*)blk)[r]) * sumi - xd * HalfBits.ToSingleFast(((ushort*)(blk + 16))[r]) * summ;
            }
        }
    }
}
