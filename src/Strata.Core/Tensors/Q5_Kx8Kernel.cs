using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>
/// Q5_K repacked for 8 rows at a time, the same bytes as plain. For each group of 8 rows and 256-element super-block
/// (1408 bytes): the first 1152 bytes as <see cref="Q4_Kx8"/> lays out Q4_K (d, dmin, the 12 scale bytes, the low
/// nibbles as [chunk c][step t][row r][4 bytes]), then the fifth bits: qh bytes 4t..4t+3 of each row as [t][row r][4].
/// Bit 2c of qh byte l is the fifth bit of element 64c+l, bit 2c+1 that of element 64c+32+l.
/// </summary>
public static class Q5_Kx8
{
    public const int Rows = Interleaved8Kernel.Rows;
    private const int BlockBytes = 176;

    /// <summary>Whether this machine has the kernel (AVX2).</summary>
    public static bool IsSupported => Avx2.IsSupported;

    public static void Repack(ReadOnlySpan<byte> src, Span<byte> dst, int rows, int cols) =>
        Interleave8.Repack(src, dst, rows, cols / 256, BlockBytes, static (i, o, r) =>
        {
            i[..2].CopyTo(o.Slice(2 * r, 2));
            i.Slice(BlockLayout.Q5_K_DMin, 2).CopyTo(o.Slice(16 + 2 * r, 2));
            for (int k = 0; k < 3; k++) i.Slice(BlockLayout.Q5_K_Scales + 4 * k, 4).CopyTo(o.Slice(32 + 32 * k + 4 * r, 4));
            for (int c = 0; c < 4; c++)
                for (int t = 0; t < 8; t++)
                    i.Slice(BlockLayout.Q5_K_Qs + 32 * c + 4 * t, 4).CopyTo(o.Slice(128 + 256 * c + 32 * t + 4 * r, 4));
            for (int t = 0; t < 8; t++) i.Slice(BlockLayout.Q5_K_Qh + 4 * t, 4).CopyTo(o.Slice(1152 + 32 * t + 4 * r, 4));
        });
}

/// <summary>
/// Q5_K × Q8_K over the interleaved layout (ggml's vec_dot_q5_K_q8_K, 8 rows at once): per sub-block an exact int32
/// dot per row lane, times the row's 6-bit scale, summed per super-block; the mins against the activation sums; then
/// d·xd and dmin·xd in float. 5-bit quants overflow int16 pair sums over a sub-block, so sums stay int32 throughout.
/// </summary>
internal sealed unsafe class Q5_Kx8Kernel() : Interleaved8Kernel(new ScaleMinKKernel<Q5KFormat>())
{
    private const int GroupBlockBytes = 8 * 176;

    protected override bool SimdSupported => Q5_Kx8.IsSupported;
    protected override bool HasTile => true;

    protected override void Group(byte* g, byte* x, int cols, float* dots)
    {
        if (Kernels.UseVnni) Run<VnniDot>(g, x, 0, 1, cols, dots);
        else Run<MaddDot>(g, x, 0, 1, cols, dots);
    }

    protected override void GroupTile(byte* g, byte* x, long pb, int cols, float* dots)
    {
        if (Kernels.UseVnni) Run<VnniDot>(g, x, pb, Tile, cols, dots);
        else Run<MaddDot>(g, x, pb, Tile, cols, dots);
    }

    /// <summary>The fifth bit of each byte's element as 0x10: bit <paramref name="bit"/> of qh moved to bit 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Fifth(Vector256<ushort> qh, int bit) =>
        (bit <= 4 ? qh << (4 - bit) : qh >> (bit - 4)).AsByte() & Vector256.Create((byte)0x10);

    /// <summary>
    /// <paramref name="tokens"/> prepared rows (1 or <see cref="Interleaved8Kernel.Tile"/>) against the group, token by
    /// token inside each step so the group's bytes are decoded once per step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<TDot>(byte* g, byte* x, long pb, int tokens, int cols, float* dots) where TDot : struct, IByteDot
    {
        var L = new Q8KLayout(cols);
        var nibble = Vector256.Create((byte)0x0F);
        var low8 = Vector256.Create(0xFFu);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = g + b * GroupBlockBytes;
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
            byte* qh = blk + 1152;
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
            for (int c = 0; c < 4; c++)
            {
                Vector256<int> l0 = default, l1 = default, l2 = default, l3 = default;
                Vector256<int> h0 = default, h1 = default, h2 = default, h3 = default;
                for (int t = 0; t < 8; t++)
                {
                    var v = Vector256.Load(qs + 256 * c + 32 * t);
                    var bits = Vector256.Load(qh + 32 * t).AsUInt16();
                    var lo = (v & nibble) | Fifth(bits, 2 * c);
                    var hi = ((v.AsUInt16() >> 4).AsByte() & nibble) | Fifth(bits, 2 * c + 1);
                    int ol = o + 64 * c + 4 * t, oh = ol + 32;
                    l0 = TDot.Add(l0, lo, Vector256.Create(*(int*)(x + ol)).AsSByte());
                    h0 = TDot.Add(h0, hi, Vector256.Create(*(int*)(x + oh)).AsSByte());
                    if (tokens > 1)
                    {
                        l1 = TDot.Add(l1, lo, Vector256.Create(*(int*)(x + pb + ol)).AsSByte());
                        h1 = TDot.Add(h1, hi, Vector256.Create(*(int*)(x + pb + oh)).AsSByte());
                        l2 = TDot.Add(l2, lo, Vector256.Create(*(int*)(x + 2 * pb + ol)).AsSByte());
                        h2 = TDot.Add(h2, hi, Vector256.Create(*(int*)(x + 2 * pb + oh)).AsSByte());
                        l3 = TDot.Add(l3, lo, Vector256.Create(*(int*)(x + 3 * pb + ol)).AsSByte());
                        h3 = TDot.Add(h3, hi, Vector256.Create(*(int*)(x + 3 * pb + oh)).AsSByte());
                    }
                }
                var sc = c < 2 ? scLo : scHi;
                int shift = 16 * (c & 1);
                var sa = ((sc >> shift) & low8).AsInt32();
                var sb = ((sc >> (shift + 8)) & low8).AsInt32();
                s0 += Avx2.MultiplyLow(l0, sa) + Avx2.MultiplyLow(h0, sb);
                if (tokens > 1)
                {
                    s1 += Avx2.MultiplyLow(l1, sa) + Avx2.MultiplyLow(h1, sb);
                    s2 += Avx2.MultiplyLow(l2, sa) + Avx2.MultiplyLow(h2, sb);
                    s3 += Avx2.MultiplyLow(l3, sa) + Avx2.MultiplyLow(h3, sb);
                }
            }
            var d = HalfBits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)blk).ToVector256Unsafe()));
            var dmin = HalfBits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)(blk + 16)).ToVector256Unsafe()));
            var m01 = Avx2.Shuffle(mnLo, Q4_Kx8Kernel.Min01).AsInt16();
            var m23 = Avx2.Shuffle(mnLo, Q4_Kx8Kernel.Min23).AsInt16();
            var m45 = Avx2.Shuffle(mnHi, Q4_Kx8Kernel.Min01).AsInt16();
            var m67 = Avx2.Shuffle(mnHi, Q4_Kx8Kernel.Min23).AsInt16();
            a0 = Q4_Kx8Kernel.Finish(a0, s0, x, L, b, d, dmin, m01, m23, m45, m67);
            if (tokens > 1)
            {
                a1 = Q4_Kx8Kernel.Finish(a1, s1, x + pb, L, b, d, dmin, m01, m23, m45, m67);
                a2 = Q4_Kx8Kernel.Finish(a2, s2, x + 2 * pb, L, b, d, dmin, m01, m23, m45, m67);
                a3 = Q4_Kx8Kernel.Finish(a3, s3, x + 3 * pb, L, b, d, dmin, m01, m23, m45, m67);
            }
        }
        a0.Store(dots);
        if (tokens > 1)
        {
            a1.Store(dots + 8);
            a2.Store(dots + 16);
            a3.Store(dots + 24);
        }
    }

    /// <summary>Scalar twin of <see cref="Group"/>, reading the interleaved layout element by element.</summary>
    protected override void GroupScalar(byte* g, byte* x, int cols, float* dots)
    {
        var L = new Q8KLayout(cols);
        sbyte* xq = (sbyte*)x;
        float* xds = (float*)(x + L.DOff);
        short* bsums = (short*)(x + L.BsumOff);
        Span<byte> scaleBytes = stackalloc byte[12];
        for (int r = 0; r < Q5_Kx8.Rows; r++) dots[r] = 0;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = g + b * GroupBlockBytes;
            for (int r = 0; r < Q5_Kx8.Rows; r++)
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
                        int low = (blk[128 + 256 * c + 32 * (e / 4) + 4 * r + e % 4] >> shift) & 0xF;
                        int fifth = (blk[1152 + 32 * (e / 4) + 4 * r + e % 4] >> j) & 1;
                        dot += (low | (fifth << 4)) * xq[256 * b + 32 * j + e];
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
