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
    /// Rows interleaved in groups of eight (Q4_0: <see cref="Q4_0x8"/>, Q4_K: <see cref="Q4_Kx8"/>), so one load
    /// serves eight rows; rows past the last whole group stay plain. Same byte size as plain.
    /// </summary>
    Interleaved8,
    /// <summary>
    /// As <see cref="Plain"/>, and found when loaded to hold no infinity or NaN (F16): its kernel widens the halves
    /// without looking for them, which is most of what decode costs beyond reading them.
    /// </summary>
    PlainFinite,
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
        byte* xq = x;
        float* xd = (float*)(x + L.DOff);
        int* xsum = (int*)(x + L.SumOff);
        var acc = Vector256<float>.Zero;
        var nibble = Vector256.Create((byte)0x0F);
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = g + b * (Q4_0x8.Rows * 18);
            byte* xb = xq + 32 * b;
            // Byte multiply-add sums stay within int16: 8 products pairs of at most 15·127·2 each.
            var sum16 = Vector256<short>.Zero;
            for (int c = 0; c < 4; c++)
            {
                var v = Vector256.Load(blk + 16 + 32 * c);
                var lo = v & nibble;
                var hi = (v.AsUInt16() >> 4).AsByte() & nibble;
                var xlo = Vector256.Create(*(int*)(xb + 4 * c)).AsSByte();
                var xhi = Vector256.Create(*(int*)(xb + 16 + 4 * c)).AsSByte();
                sum16 += Avx2.MultiplyAddAdjacent(lo, xlo) + Avx2.MultiplyAddAdjacent(hi, xhi);
            }
            // Lane r = row r's block dot of the unsigned nibbles; the -8 offset is -8·Σx, the same for all rows.
            var p = Avx2.MultiplyAddAdjacent(sum16, Vector256<short>.One) - Vector256.Create(8 * xsum[b]);
            var scales = HalfBits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)blk).ToVector256Unsafe()));
            acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p), scales * Vector256.Create(xd[b]), acc);
        }
        acc.Store(dots);
    }


    protected override void GroupTile(byte* g, byte* x, long pb, int cols, float* dots)
    {
        if (Kernels.UseVnni) Tile4<VnniDot>(g, x, pb, cols, dots);
        else Tile4<MaddDot>(g, x, pb, cols, dots);
    }

    /// <summary>
    /// Four tokens per pass: each chunk's nibbles are split once and multiplied into four int32 accumulators
    /// (lane r = row r); scales are applied once per block for all 8 rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4<TDot>(byte* g, byte* x, long pb, int cols, float* dots) where TDot : struct, IByteDot
    {
        var L = new Q8Layout(cols);
        sbyte* x0 = (sbyte*)x, x1 = x0 + pb, x2 = x1 + pb, x3 = x2 + pb;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var nibble = Vector256.Create((byte)0x0F);
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = g + b * (Q4_0x8.Rows * 18);
            int o = 32 * b;
            Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default;
            for (int c = 0; c < 4; c++)
            {
                var v = Vector256.Load(blk + 16 + 32 * c);
                var lo = v & nibble;
                var hi = (v.AsUInt16() >> 4).AsByte() & nibble;
                int ol = o + 4 * c, oh = ol + 16;
                i0 = TDot.AddNarrow(TDot.AddNarrow(i0, lo, Vector256.Create(*(int*)(x0 + ol)).AsSByte()), hi, Vector256.Create(*(int*)(x0 + oh)).AsSByte());
                i1 = TDot.AddNarrow(TDot.AddNarrow(i1, lo, Vector256.Create(*(int*)(x1 + ol)).AsSByte()), hi, Vector256.Create(*(int*)(x1 + oh)).AsSByte());
                i2 = TDot.AddNarrow(TDot.AddNarrow(i2, lo, Vector256.Create(*(int*)(x2 + ol)).AsSByte()), hi, Vector256.Create(*(int*)(x2 + oh)).AsSByte());
                i3 = TDot.AddNarrow(TDot.AddNarrow(i3, lo, Vector256.Create(*(int*)(x3 + ol)).AsSByte()), hi, Vector256.Create(*(int*)(x3 + oh)).AsSByte());
            }
            // A block's 8 pair sums per lane fit int16 (8·15·127·2): widened once per block.
            (i0, i1, i2, i3) = (TDot.Widen(i0), TDot.Widen(i1), TDot.Widen(i2), TDot.Widen(i3));
            var scales = HalfBits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)blk).ToVector256Unsafe()));
            // The -8 offset of every quant is -8·Σx per token, the same for all rows.
            a0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i0 - Vector256.Create(8 * ((int*)(x0 + L.SumOff))[b])), scales * Vector256.Create(((float*)(x0 + L.DOff))[b]), a0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i1 - Vector256.Create(8 * ((int*)(x1 + L.SumOff))[b])), scales * Vector256.Create(((float*)(x1 + L.DOff))[b]), a1);
            a2 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i2 - Vector256.Create(8 * ((int*)(x2 + L.SumOff))[b])), scales * Vector256.Create(((float*)(x2 + L.DOff))[b]), a2);
            a3 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i3 - Vector256.Create(8 * ((int*)(x3 + L.SumOff))[b])), scales * Vector256.Create(((float*)(x3 + L.DOff))[b]), a3);
        }
        a0.Store(dots);
        a1.Store(dots + 8);
        a2.Store(dots + 16);
        a3.Store(dots + 24);
    }

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
