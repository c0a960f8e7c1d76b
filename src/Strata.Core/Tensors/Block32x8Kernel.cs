using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>
/// Q4_0, Q4_1, Q5_0 and Q5_1 repacked for matrix-vector products: for each group of 8 rows and each 32-element
/// block, the 8 rows' f16 scales d (16 bytes), their f16 minima m (16 bytes, Q4_1/Q5_1), their fifth
/// bits (8 × 32 bits, Q5_0/Q5_1), then 4 chunks of 32 bytes where chunk c holds nibble bytes 4c..4c+3 of each row
/// (row r at bytes 4r..4r+3: low nibbles elements 4c..4c+3, high nibbles 16+4c..16+4c+3). A row's fifth bits are
/// rearranged so that byte k of its word holds, in bit c, the bit of element 4c+k and, in bit 4+c, that of element
/// 16+4c+k: for chunk c a shift of the 8 words and a mask put each quant's fifth bit under its nibble. Same byte size
/// as plain.
/// </summary>
public static class Block32x8
{
    public const int Rows = Interleaved8Kernel.Rows;

    /// <summary>Whether this machine has the kernels (AVX2).</summary>
    public static bool IsSupported => Avx2.IsSupported;

    /// <summary>Repacks a plain Q4_0, Q4_1, Q5_0 or Q5_1 matrix; rows past the last whole group are copied as they are.</summary>
    public static void Repack(GgmlType type, ReadOnlySpan<byte> src, Span<byte> dst, int rows, int cols)
    {
        switch (type)
        {
            case GgmlType.Q4_0: Repack<Q4_0Format>(src, dst, rows, cols); break;
            case GgmlType.Q4_1: Repack<Q4_1Format>(src, dst, rows, cols); break;
            case GgmlType.Q5_0: Repack<Q5_0Format>(src, dst, rows, cols); break;
            case GgmlType.Q5_1: Repack<Q5_1Format>(src, dst, rows, cols); break;
            default: throw new NotSupportedException($"no 32-block interleaved layout for {GgmlTypeInfo.Name(type)}");
        }
    }

    internal static void Repack<T>(ReadOnlySpan<byte> src, Span<byte> dst, int rows, int cols) where T : struct, IBlock32Format =>
        Interleave8.Repack(src, dst, rows, cols / 32, T.Bytes, static (i, o, r) =>
        {
            var at = new GroupOffsets<T>();
            i[..2].CopyTo(o.Slice(2 * r, 2));
            int p = 2;
            if (T.HasMin) { i.Slice(p, 2).CopyTo(o.Slice(at.Min + 2 * r, 2)); p += 2; }
            if (T.HasHigh)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(o.Slice(at.High + 4 * r, 4), Spread(BinaryPrimitives.ReadUInt32LittleEndian(i.Slice(p, 4))));
                p += 4;
            }
            for (int c = 0; c < 4; c++) i.Slice(p + 4 * c, 4).CopyTo(o.Slice(at.Quants + 32 * c + 4 * r, 4));
        });

    /// <summary>A row's fifth bits in the order the kernels read them (see the class summary).</summary>
    internal static uint Spread(uint qh)
    {
        uint h = 0;
        for (int k = 0; k < 4; k++)
            for (int c = 0; c < 4; c++)
            {
                h |= ((qh >> (4 * c + k)) & 1) << (8 * k + c);
                h |= ((qh >> (16 + 4 * c + k)) & 1) << (8 * k + 4 + c);
            }
        return h;
    }
}

/// <summary>Where a group block's parts start (see <see cref="Block32x8"/>); constants once the format is known.</summary>
internal readonly struct GroupOffsets<T> where T : struct, IBlock32Format
{
    public int Min => 16;
    public int High => T.HasMin ? 32 : 16;
    public int Quants => High + (T.HasHigh ? 32 : 0);
    public int Bytes => Block32x8.Rows * T.Bytes;
}

/// <summary>
/// Q4_0/Q4_1/Q5_0/Q5_1 × Q8_0 over the interleaved layout: 8 rows per step, each block's exact int32 dot (as ggml's
/// vec_dot_q4_0_q8_0 etc.), less 8·Σx or 16·Σx for Q4_0's and Q5_0's offsets, times d_w·d_x, plus m_w·s_x for the types with a minimum.
/// Rows past the last whole group go to the plain kernel.
/// </summary>
internal sealed unsafe class Block32x8Kernel<T>() : Interleaved8Kernel(new Block32Kernel<T>()) where T : struct, IBlock32Format
{
    protected override bool SimdSupported => Block32x8.IsSupported;

    /// <summary>Q4_0's and Q5_0's quants carry an offset of −8 and −16: −2^shift·Σx per token, the same for all rows (−1: none).</summary>
    // Static members of a generic class read in AggressiveOptimization code stay calls unless marked for inlining.
    private static int OffsetShift
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => T.Offset switch { 0 => -1, 8 => 3, 16 => 4, _ => throw new NotSupportedException() };
    }

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
    /// Without VNNI, byte pair sums stay in int16 for as many chunks as fit: all four of a 4-bit block (8·2·15·127),
    /// two of a 5-bit block (4·2·31·127); VNNI sums in int32 throughout.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool WidenMidBlock<TDot>() where TDot : struct, IByteDot => T.HasHigh && typeof(TDot) == typeof(MaddDot);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void One<TDot>(byte* g, byte* x, int cols, float* dots) where TDot : struct, IByteDot
    {
        var L = new Q8Layout(cols);
        var at = new GroupOffsets<T>();
        sbyte* xb = (sbyte*)x;
        var acc = Vector256<float>.Zero;
        var nibble = Vector256.Create((byte)0x0F);
        byte* blk = g;
        for (int b = 0; b < L.Blocks; b++, blk += at.Bytes, xb += 32)
        {
            if ((b & 3) == 0) Interleave8.PrefetchAhead(blk, 4 * at.Bytes, Interleave8.FarAheadBytes); // every 4 blocks, 4 blocks
            var hv = T.HasHigh ? Vector256.Load((ushort*)(blk + at.High)) : default;
            Vector256<int> i = default;
            Chunk1<TDot>(0, blk + at.Quants, hv, nibble, xb, ref i);
            Chunk1<TDot>(1, blk + at.Quants, hv, nibble, xb, ref i);
            Vector256<int> first = default;
            if (WidenMidBlock<TDot>()) { first = TDot.Widen(i); i = default; }
            Chunk1<TDot>(2, blk + at.Quants, hv, nibble, xb, ref i);
            Chunk1<TDot>(3, blk + at.Quants, hv, nibble, xb, ref i);
            var dot = TDot.Widen(i);
            if (WidenMidBlock<TDot>()) dot += first;
            acc = AddBlock(dot, x, L, b, HalfBits.ToSingleFinite((ushort*)blk), T.HasMin ? HalfBits.ToSingleFinite((ushort*)(blk + at.Min)) : default, acc);
        }
        acc.Store(dots);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Chunk1<TDot>(int c, byte* q, Vector256<ushort> hv, Vector256<byte> nibble, sbyte* xb, ref Vector256<int> i) where TDot : struct, IByteDot
    {
        Unpack(c, q, hv, nibble, out var lo, out var hi);
        i = TDot.AddNarrow(TDot.AddNarrow(i, lo, Broadcast(xb + 4 * c)), hi, Broadcast(xb + 16 + 4 * c));
    }

    /// <summary>Chunk c's quants: low and high nibbles, each with its fifth bit where the format has one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unpack(int c, byte* q, Vector256<ushort> hv, Vector256<byte> nibble, out Vector256<byte> lo, out Vector256<byte> hi)
    {
        var v = Vector256.Load(q + 32 * c);
        lo = v & nibble;
        hi = (v.AsUInt16() >> 4).AsByte() & nibble;
        if (T.HasHigh)
        {
            // 16-bit shifts by at most 4 move no bit across a byte into bit 4 of the next (see Block32x8).
            var five = Vector256.Create((byte)0x10);
            lo |= (hv << (4 - c)).AsByte() & five;
            hi |= (hv >> c).AsByte() & five;
        }
    }

    /// <summary>One token's block: the 8 rows' int32 dots less the offset term, times d_w·d_x, plus m_w·s_x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> AddBlock(Vector256<int> dots, byte* x, in Q8Layout L, int b, Vector256<float> d, Vector256<float> m, Vector256<float> acc)
    {
        acc = Interleave8.AddBlock(dots, (int*)(x + L.SumOff) + b, (float*)(x + L.DOff) + b, d, acc, OffsetShift);
        if (T.HasMin) acc = Vector256.FusedMultiplyAdd(m, Avx.BroadcastScalarToVector256((float*)(x + L.SOff) + b), acc);
        return acc;
    }

    /// <summary>
    /// Four tokens per pass: each chunk is unpacked once and multiplied into four accumulators (lane r = row r); scales
    /// are converted once per block for all 8 rows and the 4 tokens. Pointers advance block by block and the chunk loop
    /// is unrolled, so every load is a fixed offset from a pointer (the indexed form cost more address arithmetic than
    /// SIMD work between the multiplies).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4<TDot>(byte* g, byte* x, long pb, int cols, float* dots) where TDot : struct, IByteDot
    {
        var L = new Q8Layout(cols);
        var at = new GroupOffsets<T>();
        byte* x1 = x + pb, x2 = x1 + pb, x3 = x2 + pb;
        sbyte* q0 = (sbyte*)x, q1 = (sbyte*)x1, q2 = (sbyte*)x2, q3 = (sbyte*)x3;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var nibble = Vector256.Create((byte)0x0F);
        byte* blk = g;
        for (int b = 0; b < L.Blocks; b++, blk += at.Bytes, q0 += 32, q1 += 32, q2 += 32, q3 += 32)
        {
            var hv = T.HasHigh ? Vector256.Load((ushort*)(blk + at.High)) : default;
            Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default;
            Chunk4<TDot>(0, blk + at.Quants, hv, nibble, q0, q1, q2, q3, ref i0, ref i1, ref i2, ref i3);
            Chunk4<TDot>(1, blk + at.Quants, hv, nibble, q0, q1, q2, q3, ref i0, ref i1, ref i2, ref i3);
            Vector256<int> f0 = default, f1 = default, f2 = default, f3 = default;
            if (WidenMidBlock<TDot>())
            {
                f0 = TDot.Widen(i0); f1 = TDot.Widen(i1); f2 = TDot.Widen(i2); f3 = TDot.Widen(i3);
                i0 = default; i1 = default; i2 = default; i3 = default;
            }
            Chunk4<TDot>(2, blk + at.Quants, hv, nibble, q0, q1, q2, q3, ref i0, ref i1, ref i2, ref i3);
            Chunk4<TDot>(3, blk + at.Quants, hv, nibble, q0, q1, q2, q3, ref i0, ref i1, ref i2, ref i3);
            i0 = TDot.Widen(i0); i1 = TDot.Widen(i1); i2 = TDot.Widen(i2); i3 = TDot.Widen(i3);
            if (WidenMidBlock<TDot>()) { i0 += f0; i1 += f1; i2 += f2; i3 += f3; }
            var d = HalfBits.ToSingleFinite((ushort*)blk);
            var m = T.HasMin ? HalfBits.ToSingleFinite((ushort*)(blk + at.Min)) : default;
            a0 = AddBlock(i0, x, L, b, d, m, a0);
            a1 = AddBlock(i1, x1, L, b, d, m, a1);
            a2 = AddBlock(i2, x2, L, b, d, m, a2);
            a3 = AddBlock(i3, x3, L, b, d, m, a3);
        }
        a0.Store(dots);
        a1.Store(dots + 8);
        a2.Store(dots + 16);
        a3.Store(dots + 24);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Chunk4<TDot>(int c, byte* q, Vector256<ushort> hv, Vector256<byte> nibble, sbyte* x0, sbyte* x1, sbyte* x2, sbyte* x3,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3) where TDot : struct, IByteDot
    {
        Unpack(c, q, hv, nibble, out var lo, out var hi);
        int ol = 4 * c, oh = 16 + 4 * c;
        i0 = TDot.AddNarrow(TDot.AddNarrow(i0, lo, Broadcast(x0 + ol)), hi, Broadcast(x0 + oh));
        i1 = TDot.AddNarrow(TDot.AddNarrow(i1, lo, Broadcast(x1 + ol)), hi, Broadcast(x1 + oh));
        i2 = TDot.AddNarrow(TDot.AddNarrow(i2, lo, Broadcast(x2 + ol)), hi, Broadcast(x2 + oh));
        i3 = TDot.AddNarrow(TDot.AddNarrow(i3, lo, Broadcast(x3 + ol)), hi, Broadcast(x3 + oh));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Broadcast(sbyte* p) => Avx2.BroadcastScalarToVector256((int*)p).AsSByte();

    /// <summary>Scalar twin of <see cref="Group"/>, reading the interleaved layout element by element.</summary>
    protected override void GroupScalar(byte* g, byte* x, int cols, float* dots)
    {
        var L = new Q8Layout(cols);
        var at = new GroupOffsets<T>();
        sbyte* xq = (sbyte*)x;
        float* xd = (float*)(x + L.DOff), xs = (float*)(x + L.SOff);
        for (int r = 0; r < Block32x8.Rows; r++) dots[r] = 0;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = g + b * at.Bytes;
            for (int r = 0; r < Block32x8.Rows; r++)
            {
                uint h = T.HasHigh ? ((uint*)(blk + at.High))[r] : 0;
                int s = 0;
                for (int c = 0; c < 4; c++)
                    for (int k = 0; k < 4; k++)
                    {
                        byte q = blk[at.Quants + 32 * c + 4 * r + k];
                        int lo = (q & 0xF) | (int)((h >> (8 * k + c)) & 1) << 4;
                        int hi = (q >> 4) | (int)((h >> (8 * k + 4 + c)) & 1) << 4;
                        s += (lo - T.Offset) * xq[32 * b + 4 * c + k] + (hi - T.Offset) * xq[32 * b + 16 + 4 * c + k];
                    }
                dots[r] += s * (HalfBits.ToSingleFast(((ushort*)blk)[r]) * xd[b]);
                if (T.HasMin) dots[r] += HalfBits.ToSingleFast(((ushort*)(blk + at.Min))[r]) * xs[b];
            }
        }
    }
}
