using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>How a weight matrix's bytes are arranged.</summary>
public enum WeightLayout
{
    /// <summary>As in the GGUF file: row after row.</summary>
    Plain,
    /// <summary>
    /// Rows interleaved in groups of eight (Q4_0: <see cref="Q4_0x8"/>, Q4_1/Q5_0/Q5_1: <see cref="Block32x8"/>, Q4_K: <see cref="Q4_Kx8"/>, ...), so one load
    /// serves eight rows; rows past the last whole group stay plain. Same byte size as plain.
    /// </summary>
    Interleaved8,
    /// <summary>
    /// As <see cref="Plain"/>, and found when loaded to hold no infinity or NaN (F16): its kernel widens the halves
    /// without looking for them, which is most of what decode costs beyond reading them.
    /// </summary>
    PlainFinite,
    /// <summary>
    /// F16 re-encoded into a copy (<see cref="RebasedHalf"/>) so that every value, subnormals included, widens exactly
    /// in four vector operations; for matrices whose values are all finite and below 2 in magnitude, on machines with
    /// AVX-512. Same byte size and row order as plain, but not F16 bits.
    /// </summary>
    RebasedF16,
}

/// <summary>
/// Q4_0 repacked for matrix-vector products: for each group of 8 rows and each 32-element block, the 8 rows' f16
/// scales (16 bytes), then 4 chunks of 32 bytes where chunk c holds bytes 4c..4c+3 of each row's 16 nibble bytes
/// (row r at bytes 4r..4r+3). A chunk's low nibbles are elements 4c..4c+3 of all 8 rows, its high nibbles elements
/// 16+4c..16+4c+3, so one byte multiply-add against 4 broadcast activation bytes yields a partial dot for every row
/// in its own lane: no horizontal sums.
/// </summary>
public static class Q4_0x8
{
    public const int Rows = Interleaved8Kernel.Rows;
    private const int BlockBytes = 18;

    /// <summary>Whether this machine has the kernel (AVX2).</summary>
    public static bool IsSupported => Avx2.IsSupported;

    /// <summary>Repacks a plain Q4_0 matrix into the interleaved layout; rows past the last whole group are copied as they are.</summary>
    public static void Repack(ReadOnlySpan<byte> src, Span<byte> dst, int rows, int cols) =>
        Interleave8.Repack(src, dst, rows, cols / 32, BlockBytes, static (i, o, r) =>
        {
            i[..2].CopyTo(o.Slice(2 * r, 2));
            for (int c = 0; c < 4; c++) i.Slice(2 + 4 * c, 4).CopyTo(o.Slice(16 + 32 * c + 4 * r, 4));
        });
}

/// <summary>
/// Q4_0 × Q8_0 over the interleaved layout: 8 rows per step, exact int32 dots per block (as ggml's
/// vec_dot_q4_0_q8_0), times d_w·d_x, summed in float. Rows past the last whole group go to the plain kernel.
/// </summary>
internal sealed unsafe class Q4_0x8Kernel() : Interleaved8Kernel(new Block32Kernel<Q4_0Format>())
{
    protected override bool SimdSupported => Q4_0x8.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void Group(byte* g, byte* x, int cols, float* dots)
    {
        var L = new Q8Layout(cols);
        sbyte* xb = (sbyte*)x;
        float* xd = (float*)(x + L.DOff);
        int* xsum = (int*)(x + L.SumOff);
        var acc = Vector256<float>.Zero;
        var nibble = Vector256.Create((byte)0x0F);
        byte* blk = g;
        for (int b = 0; b < L.Blocks; b++, blk += Q4_0x8.Rows * 18, xb += 32)
        {
            if ((b & 3) == 0) Interleave8.PrefetchAhead(blk, 4 * Q4_0x8.Rows * 18, Interleave8.FarAheadBytes); // every 4 blocks, 4 blocks
            // Byte multiply-add sums stay within int16: 8 products pairs of at most 15·127·2 each.
            var sum16 = Vector256<short>.Zero;
            for (int c = 0; c < 4; c++)
            {
                var v = Vector256.Load(blk + 16 + 32 * c);
                var lo = v & nibble;
                var hi = (v.AsUInt16() >> 4).AsByte() & nibble;
                sum16 += Avx2.MultiplyAddAdjacent(lo, Broadcast(xb + 4 * c)) + Avx2.MultiplyAddAdjacent(hi, Broadcast(xb + 16 + 4 * c));
            }
            acc = Interleave8.AddBlock(MaddDot.Widen(sum16.AsInt32()), xsum + b, xd + b, HalfBits.ToSingleFinite((ushort*)blk), acc, OffsetShift);
        }
        acc.Store(dots);
    }

    protected override void GroupTile(byte* g, byte* x, long pb, int cols, float* dots)
    {
        if (Kernels.UseVnni) Tile4<VnniDot>(g, x, pb, cols, dots);
        else Tile4<MaddDot>(g, x, pb, cols, dots);
    }

    /// <summary>
    /// Four tokens per pass: each chunk's nibbles are split once and multiplied into four accumulators (lane r =
    /// row r); scales are applied once per block for all 8 rows. Pointers advance block by block and the chunk loop is
    /// unrolled, so every load is a fixed offset from a pointer (the indexed form cost more address arithmetic than SIMD
    /// work between the multiplies).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4<TDot>(byte* g, byte* x, long pb, int cols, float* dots) where TDot : struct, IByteDot
    {
        var L = new Q8Layout(cols);
        sbyte* x0 = (sbyte*)x, x1 = x0 + pb, x2 = x1 + pb, x3 = x2 + pb;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var nibble = Vector256.Create((byte)0x0F);
        byte* blk = g;
        for (int b = 0; b < L.Blocks; b++, blk += Q4_0x8.Rows * 18, x0 += 32, x1 += 32, x2 += 32, x3 += 32)
        {
            Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default;
            Chunk<TDot>(0, blk, x0, x1, x2, x3, nibble, ref i0, ref i1, ref i2, ref i3);
            Chunk<TDot>(1, blk, x0, x1, x2, x3, nibble, ref i0, ref i1, ref i2, ref i3);
            Chunk<TDot>(2, blk, x0, x1, x2, x3, nibble, ref i0, ref i1, ref i2, ref i3);
            Chunk<TDot>(3, blk, x0, x1, x2, x3, nibble, ref i0, ref i1, ref i2, ref i3);
            // A block's 8 pair sums per lane fit int16 (8·15·127·2): widened once per block.
            Interleave8.AddBlock4(TDot.Widen(i0), TDot.Widen(i1), TDot.Widen(i2), TDot.Widen(i3), x, L, b, pb,
                HalfBits.ToSingleFinite((ushort*)blk), OffsetShift, ref a0, ref a1, ref a2, ref a3);
        }
        a0.Store(dots);
        a1.Store(dots + 8);
        a2.Store(dots + 16);
        a3.Store(dots + 24);
    }

    /// <summary>Chunk c of a block: its low nibbles against each token's bytes 4c..4c+3, its high ones against 16+4c...</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Chunk<TDot>(int c, byte* blk, sbyte* x0, sbyte* x1, sbyte* x2, sbyte* x3, Vector256<byte> nibble,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3) where TDot : struct, IByteDot
    {
        var v = Vector256.Load(blk + 16 + 32 * c);
        var lo = v & nibble;
        var hi = (v.AsUInt16() >> 4).AsByte() & nibble;
        int ol = 4 * c, oh = 16 + 4 * c;
        i0 = TDot.AddNarrow(TDot.AddNarrow(i0, lo, Broadcast(x0 + ol)), hi, Broadcast(x0 + oh));
        i1 = TDot.AddNarrow(TDot.AddNarrow(i1, lo, Broadcast(x1 + ol)), hi, Broadcast(x1 + oh));
        i2 = TDot.AddNarrow(TDot.AddNarrow(i2, lo, Broadcast(x2 + ol)), hi, Broadcast(x2 + oh));
        i3 = TDot.AddNarrow(TDot.AddNarrow(i3, lo, Broadcast(x3 + ol)), hi, Broadcast(x3 + oh));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Broadcast(sbyte* p) => Avx2.BroadcastScalarToVector256((int*)p).AsSByte();

    /// <summary>Every quant carries an offset of −8: −8·Σx per token, the same for all rows.</summary>
    private const int OffsetShift = 3;

    /// <summary>Scalar twin of <see cref="Group"/>, reading the interleaved layout element by element.</summary>
    protected override void GroupScalar(byte* g, byte* x, int cols, float* dots)
    {
        var L = new Q8Layout(cols);
        sbyte* xq = (sbyte*)x;
        float* xd = (float*)(x + L.DOff);
        for (int r = 0; r < Q4_0x8.Rows; r++) dots[r] = 0;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = g + b * (Q4_0x8.Rows * 18);
            for (int r = 0; r < Q4_0x8.Rows; r++)
            {
                int s = 0;
                for (int c = 0; c < 4; c++)
                    for (int k = 0; k < 4; k++)
                    {
                        byte q = blk[16 + 32 * c + 4 * r + k];
                        s += ((q & 0xF) - 8) * xq[32 * b + 4 * c + k] + ((q >> 4) - 8) * xq[32 * b + 16 + 4 * c + k];
                    }
                dots[r] += s * (HalfBits.ToSingleFast(((ushort*)blk)[r]) * xd[b]);
            }
        }
    }
}
