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
        Interleave8.Repack(src, dst, rows, cols / 256, BlockBytes,
            static (i, o, r) => ScaleMinKx8.PlaceCommon(i, o, r, BlockLayout.Q4_K_DMin, BlockLayout.Q4_K_Scales, BlockLayout.Q4_K_Qs));
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
        var acc = Vector256<float>.Zero;
        Vector256<byte> s0 = Scale0, s1 = Scale1, s2 = Scale2, s3 = Scale3, m01 = Min01, m23 = Min23;
        byte* blk = g;
        for (int b = 0; b < L.Blocks; b++, blk += Q4_Kx8.Rows * 144)
        {
            Interleave8.PrefetchAhead(blk, Q4_Kx8.Rows * 144);
            var (lo32, hi32, mnLo, mnHi) = ScaleMinKx8.Scales(blk);
            Vector256<byte> scLo = lo32.AsByte(), scHi = hi32.AsByte();
            byte* xb = x + 256 * b;
            // The chunk a constant at each call: with it a loop variable, picking its scales cost branches per chunk.
            var sumi = Chunk1(blk + 128, xb, scLo, s0, s1) + Chunk1(blk + 128 + 256, xb + 64, scLo, s2, s3)
                     + Chunk1(blk + 128 + 512, xb + 128, scHi, s0, s1) + Chunk1(blk + 128 + 768, xb + 192, scHi, s2, s3);
            acc = ScaleMinKx8.Finish(acc, sumi, x, L, b, HalfBits.ToSingleFinite((ushort*)blk), HalfBits.ToSingleFinite((ushort*)(blk + 16)),
                Avx2.Shuffle(mnLo, m01).AsInt16(), Avx2.Shuffle(mnLo, m23).AsInt16(), Avx2.Shuffle(mnHi, m01).AsInt16(), Avx2.Shuffle(mnHi, m23).AsInt16());
        }
        acc.Store(dots);
    }

    /// <summary>One token's chunk (sub-blocks 2c and 2c+1, 8 steps from <paramref name="q"/>), scaled, as int32 row lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Chunk1(byte* q, byte* xc, Vector256<byte> scales, Vector256<byte> sa, Vector256<byte> sb)
    {
        var nibble = Vector256.Create((byte)0x0F);
        // Each int16 sums 8 pairs of 15·128 at most: 30720, inside int16.
        Vector256<short> lo16 = default, hi16 = default;
        for (int t = 0; t < 8; t++, q += 32, xc += 4)
        {
            var v = Vector256.Load(q);
            lo16 += Avx2.MultiplyAddAdjacent(v & nibble, Avx2.BroadcastScalarToVector256((int*)xc).AsSByte());
            hi16 += Avx2.MultiplyAddAdjacent((v.AsUInt16() >> 4).AsByte() & nibble, Avx2.BroadcastScalarToVector256((int*)(xc + 32)).AsSByte());
        }
        return Avx2.MultiplyAddAdjacent(lo16, Avx2.Shuffle(scales, sa).AsInt16()) + Avx2.MultiplyAddAdjacent(hi16, Avx2.Shuffle(scales, sb).AsInt16());
    }

    /// <summary>Eight tokens per step's unpacking where the JIT has 32 vector registers (AVX-512 machines with VNNI).</summary>
    protected override bool HasTile8 => Kernels.UseVnni && Vector512.IsHardwareAccelerated;

    protected override void GroupTile8(byte* g, byte* x, long pb, int cols, float* dots) =>
        ScaleMinKx8.Run8<VnniDot, ScaleMinKx8.NoFifthBit>(g, Q4_Kx8.Rows * 144, x, pb, cols, dots);

    protected override void GroupTile(byte* g, byte* x, long pb, int cols, float* dots)
    {
        if (Kernels.UseVnni) ScaleMinKx8.Run<VnniDot, ScaleMinKx8.NoFifthBit>(g, Q4_Kx8.Rows * 144, x, pb, Tile, cols, dots);
        else Tile4Madd(g, x, pb, cols, dots);
    }

    /// <summary>
    /// Four tokens without VNNI: <see cref="Group"/>'s arithmetic (a sub-block's pair sums in int16, widened and
    /// scaled by one vpmaddwd) with each step's nibbles split once for the four. Its own method with the chunk
    /// number a constant at each call: the shared loop (<see cref="ScaleMinKx8.Run"/>, with the token count and the
    /// chunk as variables) ran at half this speed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void Tile4Madd(byte* g, byte* x, long pb, int cols, float* dots)
    {
        var L = new Q8KLayout(cols);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<byte> s0 = Scale0, s1 = Scale1, s2 = Scale2, s3 = Scale3, m01 = Min01, m23 = Min23;
        byte* blk = g;
        for (int b = 0; b < L.Blocks; b++, blk += Q4_Kx8.Rows * 144)
        {
            var (lo32, hi32, mnLo, mnHi) = ScaleMinKx8.Scales(blk);
            Vector256<byte> scLo = lo32.AsByte(), scHi = hi32.AsByte();
            byte* xb = x + 256 * b;
            Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default;
            Chunk4(blk + 128, xb, pb, scLo, s0, s1, ref i0, ref i1, ref i2, ref i3);
            Chunk4(blk + 128 + 256, xb + 64, pb, scLo, s2, s3, ref i0, ref i1, ref i2, ref i3);
            Chunk4(blk + 128 + 512, xb + 128, pb, scHi, s0, s1, ref i0, ref i1, ref i2, ref i3);
            Chunk4(blk + 128 + 768, xb + 192, pb, scHi, s2, s3, ref i0, ref i1, ref i2, ref i3);
            var d = HalfBits.ToSingleFinite((ushort*)blk);
            var dmin = HalfBits.ToSingleFinite((ushort*)(blk + 16));
            var n01 = Avx2.Shuffle(mnLo, m01).AsInt16();
            var n23 = Avx2.Shuffle(mnLo, m23).AsInt16();
            var n45 = Avx2.Shuffle(mnHi, m01).AsInt16();
            var n67 = Avx2.Shuffle(mnHi, m23).AsInt16();
            a0 = ScaleMinKx8.Finish(a0, i0, x, L, b, d, dmin, n01, n23, n45, n67);
            a1 = ScaleMinKx8.Finish(a1, i1, x + pb, L, b, d, dmin, n01, n23, n45, n67);
            a2 = ScaleMinKx8.Finish(a2, i2, x + 2 * pb, L, b, d, dmin, n01, n23, n45, n67);
            a3 = ScaleMinKx8.Finish(a3, i3, x + 3 * pb, L, b, d, dmin, n01, n23, n45, n67);
        }
        a0.Store(dots);
        a1.Store(dots + 8);
        a2.Store(dots + 16);
        a3.Store(dots + 24);
    }

    /// <summary>
    /// One chunk (sub-blocks 2c and 2c+1: 8 steps from <paramref name="q"/>) for the four tokens whose activations
    /// for it start at <paramref name="xc"/>, <paramref name="pb"/> apart; <paramref name="sa"/>/<paramref name="sb"/>
    /// pick the two sub-blocks' scales out of <paramref name="scales"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Chunk4(byte* q, byte* xc, long pb, Vector256<byte> scales, Vector256<byte> sa, Vector256<byte> sb,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3)
    {
        var nibble = Vector256.Create((byte)0x0F);
        // Each int16 sums 8 pairs of 15·128 at most: 30720, inside int16.
        Vector256<short> l0 = default, l1 = default, l2 = default, l3 = default, h0 = default, h1 = default, h2 = default, h3 = default;
        for (int t = 0; t < 8; t++, q += 32, xc += 4)
        {
            var v = Vector256.Load(q);
            var lo = v & nibble;
            var hi = (v.AsUInt16() >> 4).AsByte() & nibble;
            l0 += Avx2.MultiplyAddAdjacent(lo, Avx2.BroadcastScalarToVector256((int*)xc).AsSByte());
            h0 += Avx2.MultiplyAddAdjacent(hi, Avx2.BroadcastScalarToVector256((int*)(xc + 32)).AsSByte());
            l1 += Avx2.MultiplyAddAdjacent(lo, Avx2.BroadcastScalarToVector256((int*)(xc + pb)).AsSByte());
            h1 += Avx2.MultiplyAddAdjacent(hi, Avx2.BroadcastScalarToVector256((int*)(xc + pb + 32)).AsSByte());
            l2 += Avx2.MultiplyAddAdjacent(lo, Avx2.BroadcastScalarToVector256((int*)(xc + 2 * pb)).AsSByte());
            h2 += Avx2.MultiplyAddAdjacent(hi, Avx2.BroadcastScalarToVector256((int*)(xc + 2 * pb + 32)).AsSByte());
            l3 += Avx2.MultiplyAddAdjacent(lo, Avx2.BroadcastScalarToVector256((int*)(xc + 3 * pb)).AsSByte());
            h3 += Avx2.MultiplyAddAdjacent(hi, Avx2.BroadcastScalarToVector256((int*)(xc + 3 * pb + 32)).AsSByte());
        }
        var ka = Avx2.Shuffle(scales, sa).AsInt16();
        var kb = Avx2.Shuffle(scales, sb).AsInt16();
        i0 += Avx2.MultiplyAddAdjacent(l0, ka) + Avx2.MultiplyAddAdjacent(h0, kb);
        i1 += Avx2.MultiplyAddAdjacent(l1, ka) + Avx2.MultiplyAddAdjacent(h1, kb);
        i2 += Avx2.MultiplyAddAdjacent(l2, ka) + Avx2.MultiplyAddAdjacent(h2, kb);
        i3 += Avx2.MultiplyAddAdjacent(l3, ka) + Avx2.MultiplyAddAdjacent(h3, kb);
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
