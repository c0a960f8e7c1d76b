using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>What the interleaved layouts share: the repack loop (groups of 8 rows, block by block; tail rows copied as they are) and the one-token kernels' prefetch.</summary>
internal static unsafe class Interleave8
{
    /// <summary>
    /// How far ahead the one-token Q8_0 and Q4_0 kernels ask for their blocks. They read a block in a few dozen
    /// cycles, so two blocks on (0.5-1 KiB) is asked for well inside DRAM's latency; on a Xeon (Emerald Rapids,
    /// 2 threads) 6 KiB took Q8_0 decode of the 1.1B shape from 18-19 to 21-22 tok/s (74-76 % to 85-86 % of the read
    /// bandwidth) and Q4_0 from 33 to 37 (3 KiB and 12 KiB were between). The K-quant kernels, with more work per
    /// byte, gained nothing and keep two blocks.
    /// </summary>
    public const int FarAheadBytes = 6144;

    /// <summary>
    /// Asks for the group block two ahead of <paramref name="blk"/>, or the first at least <paramref name="aheadBytes"/>
    /// on (past a group's last block, the next group's). One token does a lot of work per byte it reads, and without this the hardware prefetcher did not keep
    /// ahead: one-token Q5_K ran at 14 GB/s from memory against 20 with it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PrefetchAhead(byte* blk, int blockBytes, int aheadBytes = 0)
    {
        byte* next = blk + Math.Max(2, (aheadBytes + blockBytes - 1) / blockBytes) * blockBytes;
        for (int line = 0; line < blockBytes; line += 64) Sse.Prefetch0(next + line);
    }

    /// <summary>
    /// One token's block of a kernel over Q8_0 activations (Q8_0x8, Block32x8): the 8 rows' int32 dots, less Σx·2^shift
    /// when the weights' quants carry an offset (shift &lt; 0: none), times d_w·d_x, into the float sums.
    /// <paramref name="sum"/> and <paramref name="d"/> point at the token's entries for the block.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> AddBlock(Vector256<int> dots, int* sum, float* d, Vector256<float> scales, Vector256<float> acc, int shift)
    {
        if (shift >= 0) dots -= Avx2.BroadcastScalarToVector256(sum) << shift; // a constant once inlined
        return Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(dots), scales * Avx.BroadcastScalarToVector256(d), acc);
    }

    /// <summary><see cref="AddBlock"/> for block b of the 4 tokens of a tile, prepared rows <paramref name="pb"/> bytes apart from <paramref name="x"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddBlock4(Vector256<int> i0, Vector256<int> i1, Vector256<int> i2, Vector256<int> i3, byte* x, in Q8Layout L, int b, long pb,
        Vector256<float> scales, int shift, ref Vector256<float> a0, ref Vector256<float> a1, ref Vector256<float> a2, ref Vector256<float> a3)
    {
        byte* s = x + L.SumOff + 4 * b, d = x + L.DOff + 4 * b;
        a0 = AddBlock(i0, (int*)s, (float*)d, scales, a0, shift);
        a1 = AddBlock(i1, (int*)(s + pb), (float*)(d + pb), scales, a1, shift);
        a2 = AddBlock(i2, (int*)(s + 2 * pb), (float*)(d + 2 * pb), scales, a2, shift);
        a3 = AddBlock(i3, (int*)(s + 3 * pb), (float*)(d + 3 * pb), scales, a3, shift);
    }

    /// <summary>
    /// Places one row's block (<paramref name="rowBlock"/>, row <paramref name="row"/> of its group) into the group's
    /// block. <see cref="Repack"/> places rows 0..7 of each group block in that order, so a layout whose rows share
    /// bytes (Q3_K's scales) clears them at row 0 and ORs into them after.
    /// </summary>
    public delegate void Place(ReadOnlySpan<byte> rowBlock, Span<byte> groupBlock, int row);

    public static void Repack(ReadOnlySpan<byte> src, Span<byte> dst, int rows, int blocks, int blockBytes, Place place)
    {
        const int Rows = Interleaved8Kernel.Rows;
        long rowBytes = (long)blocks * blockBytes;
        if (src.Length < rows * rowBytes || dst.Length < rows * rowBytes) throw new ArgumentException("buffers shorter than the matrix");
        int groups = rows / Rows;
        for (int g = 0; g < groups; g++)
        {
            var gsrc = src.Slice((int)(g * Rows * rowBytes), (int)(Rows * rowBytes));
            var gdst = dst.Slice((int)(g * Rows * rowBytes), (int)(Rows * rowBytes));
            for (int b = 0; b < blocks; b++)
            {
                var groupBlock = gdst.Slice(b * Rows * blockBytes, Rows * blockBytes);
                for (int r = 0; r < Rows; r++) place(gsrc.Slice((int)(r * rowBytes) + b * blockBytes, blockBytes), groupBlock, r);
            }
        }
        int done = (int)(groups * Rows * rowBytes);
        src[done..(int)(rows * rowBytes)].CopyTo(dst[done..]);
    }
}

/// <summary>
/// The row loops of a kernel over a layout that interleaves rows in groups of eight: each step produces eight rows'
/// dots at once (one per vector lane); rows past the last whole group are plain and go to the plain kernel.
/// Subclasses supply the group dot and its scalar twin.
/// </summary>
internal abstract unsafe class Interleaved8Kernel(WeightKernel plain) : WeightKernel
{
    public const int Rows = 8;

    public override GgmlType Type => plain.Type;
    public override int RowGroup => Rows;
    public override int PreparedBytes(int cols) => plain.PreparedBytes(cols);
    public override void Prepare(ReadOnlySpan<float> x, Span<byte> prepared) => plain.Prepare(x, prepared);
    public override object PrepareKey => plain.PrepareKey;

    /// <summary>Whether this machine runs <see cref="Group"/> (otherwise the scalar twin runs).</summary>
    protected abstract bool SimdSupported { get; }

    /// <summary>dots[r] = row r of the group starting at <paramref name="g"/> · the prepared activation row x.</summary>
    protected abstract void Group(byte* g, byte* x, int cols, float* dots);

    protected abstract void GroupScalar(byte* g, byte* x, int cols, float* dots);

    /// <summary>Tokens per <see cref="GroupTile"/> call.</summary>
    public const int Tile = 4;

    /// <summary>
    /// dots[8t + r] = row r of the group · prepared row t, for <see cref="Tile"/> prepared rows <paramref name="pb"/>
    /// bytes apart: the group's weights are decoded once and serve every token of the tile.
    /// </summary>
    protected abstract void GroupTile(byte* g, byte* x, long pb, int cols, float* dots);

    /// <summary>Tokens per <see cref="GroupTile8"/> call.</summary>
    public const int WideTile = 8;

    /// <summary>Whether <see cref="GroupTile8"/> runs here (kernels whose unpacking costs most of a step, with 32 vector registers).</summary>
    protected virtual bool HasTile8 => false;

    /// <summary>As <see cref="GroupTile"/> for <see cref="WideTile"/> tokens: dots[8t + r], the same sums as two 4-token tiles give.</summary>
    protected virtual void GroupTile8(byte* g, byte* x, long pb, int cols, float* dots) => throw new NotSupportedException();

    public override void DotRows(ReadOnlySpan<byte> w, int cols, ReadOnlySpan<byte> prepared, Span<float> y, int rowStart, int rowEnd) =>
        DotRowsBatch(w, cols, prepared, 1, y[..(rowEnd - rowStart)], 0, rowStart, rowEnd, yOffset: -rowStart);

    public override void DotRowsBatch(ReadOnlySpan<byte> w, int cols, ReadOnlySpan<byte> prepared, int n, Span<float> y, int yStride, int rowStart, int rowEnd) =>
        DotRowsBatch(w, cols, prepared, n, y, yStride, rowStart, rowEnd, yOffset: 0);

    /// <summary>y[b*yStride + r + yOffset]; rowStart must be a multiple of 8 (the group boundary).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void DotRowsBatch(ReadOnlySpan<byte> w, int cols, ReadOnlySpan<byte> prepared, int n, Span<float> y, int yStride, int rowStart, int rowEnd, int yOffset)
    {
        if (rowStart % Rows != 0) throw new ArgumentException($"row range must start on a group of {Rows}");
        long rb = GgmlTypeInfo.RowBytes(Type, cols);
        int pb = PreparedBytes(cols);
        if (w.Length < rb * rowEnd || prepared.Length < (long)pb * n) throw new ArgumentException("weights or activations too short");
        int fullEnd = rowStart + (rowEnd - rowStart) / Rows * Rows;
        bool simd = SimdSupported && !Kernels.ForceScalar;
        fixed (byte* pw = w)
        fixed (byte* px = prepared)
        fixed (float* py = y)
        {
            float* dots = stackalloc float[Rows * WideTile];
            bool wide = simd && HasTile8;
            for (int g = rowStart; g < fullEnd; g += Rows)
            {
                int b = 0;
                // The group's weights stay in L1 while every tile of tokens passes over them.
                if (wide)
                    for (; b + WideTile <= n; b += WideTile)
                    {
                        GroupTile8(pw + g * rb, px + (long)b * pb, pb, cols, dots);
                        for (int t = 0; t < WideTile; t++)
                            for (int r = 0; r < Rows; r++) py[(long)(b + t) * yStride + g + r + yOffset] = dots[Rows * t + r];
                    }
                if (simd)
                    for (; b + Tile <= n; b += Tile)
                    {
                        GroupTile(pw + g * rb, px + (long)b * pb, pb, cols, dots);
                        for (int t = 0; t < Tile; t++)
                            for (int r = 0; r < Rows; r++) py[(long)(b + t) * yStride + g + r + yOffset] = dots[Rows * t + r];
                    }
                for (; b < n; b++)
                {
                    if (simd) Group(pw + g * rb, px + (long)b * pb, cols, dots);
                    else GroupScalar(pw + g * rb, px + (long)b * pb, cols, dots);
                    for (int r = 0; r < Rows; r++) py[(long)b * yStride + g + r + yOffset] = dots[r];
                }
            }
        }
        if (fullEnd < rowEnd)
            for (int b = 0; b < n; b++)
                plain.DotRows(w, cols, prepared.Slice(b * pb, pb), y.Slice(b * yStride + fullEnd + yOffset, rowEnd - fullEnd), fullEnd, rowEnd);
    }
}
