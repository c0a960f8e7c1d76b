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
            ScaleMinKx8.PlaceCommon(i, o, r, BlockLayout.Q5_K_DMin, BlockLayout.Q5_K_Scales, BlockLayout.Q5_K_Qs);
            for (int t = 0; t < 8; t++) i.Slice(BlockLayout.Q5_K_Qh + 4 * t, 4).CopyTo(o.Slice(1152 + 32 * t + 4 * r, 4));
        });
}

/// <summary>
/// Q5_K × Q8_K over the interleaved layout (ggml's vec_dot_q5_K_q8_K, 8 rows at once), through the loop it shares
/// with Q4_K (<see cref="ScaleMinKx8.Run"/>). 5-bit quants overflow int16 pair sums over a sub-block, so even one
/// token keeps int32 sums (Q4_K's single-token path has a faster int16 one).
/// </summary>
internal sealed unsafe class Q5_Kx8Kernel() : Interleaved8Kernel(new ScaleMinKKernel<Q5KFormat>())
{
    private const int GroupBlockBytes = 8 * 176;

    protected override bool SimdSupported => Q5_Kx8.IsSupported;

    protected override void Group(byte* g, byte* x, int cols, float* dots)
    {
        if (Kernels.UseVnni) ScaleMinKx8.RunOneFifth<VnniDot>(g, GroupBlockBytes, x, cols, dots);
        else ScaleMinKx8.RunOneFifth<MaddDot>(g, GroupBlockBytes, x, cols, dots);
    }

    protected override void GroupTile(byte* g, byte* x, long pb, int cols, float* dots)
    {
        if (Kernels.UseVnni) ScaleMinKx8.Run<VnniDot, ScaleMinKx8.FifthBit>(g, GroupBlockBytes, x, pb, Tile, cols, dots);
        else ScaleMinKx8.Run<MaddDot, ScaleMinKx8.FifthBit>(g, GroupBlockBytes, x, pb, Tile, cols, dots);
    }

    /// <summary>Eight tokens per decoding where the JIT has 32 vector registers, as Q4_K: the fifth bits make a step dearer, so more tokens share it.</summary>
    protected override bool HasTile8 => Kernels.UseVnni && Vector512.IsHardwareAccelerated;

    protected override void GroupTile8(byte* g, byte* x, long pb, int cols, float* dots) =>
        ScaleMinKx8.Run8<VnniDot, ScaleMinKx8.FifthBit>(g, GroupBlockBytes, x, pb, cols, dots);

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
