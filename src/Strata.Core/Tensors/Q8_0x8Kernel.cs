using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>
/// Q8_0 repacked in groups of 8 rows, the same bytes as plain: for each 32-element block, the 8 rows' f16 scales
/// (16 bytes), then 8 chunks of 32 bytes where chunk c holds quants 4c..4c+3 of each row (row r at 4r). One integer
/// dot instruction against 4 broadcast activation bytes then adds a partial dot to every row's own lane.
/// </summary>
public static class Q8_0x8
{
    public const int Rows = Interleaved8Kernel.Rows;
    private const int BlockBytes = 34;

    /// <summary>Whether this machine has the kernel (AVX2).</summary>
    public static bool IsSupported => Avx2.IsSupported;

    /// <summary>Repacks a plain Q8_0 matrix into the interleaved layout; rows past the last whole group are copied as they are.</summary>
    public static void Repack(ReadOnlySpan<byte> src, Span<byte> dst, int rows, int cols) =>
        Interleave8.Repack(src, dst, rows, cols / 32, BlockBytes, static (i, o, r) =>
        {
            i[..2].CopyTo(o.Slice(2 * r, 2));
            for (int c = 0; c < 8; c++) i.Slice(2 + 4 * c, 4).CopyTo(o.Slice(16 + 32 * c + 4 * r, 4));
        });
}

/// <summary>
/// How signed weight bytes meet signed activation bytes in the u8 × s8 instructions. VNNI: w + 128 as the unsigned
/// side and −128·Σx afterwards (exact in int32). AVX2: |w| against x carrying w's sign (pair sums fit int16).
/// </summary>
internal interface ISignedDot
{
    static abstract Vector256<byte> Unsigned(Vector256<sbyte> w);
    static abstract Vector256<int> Add(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> w, Vector256<sbyte> x);
    /// <summary>Σx·2^OffsetShift comes off the block's sums (−1: nothing to take off).</summary>
    static abstract int OffsetShift { get; }
}

internal struct VnniSignedDot : ISignedDot
{
    public static Vector256<byte> Unsigned(Vector256<sbyte> w) => (w.AsByte() ^ Vector256.Create((byte)0x80));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Add(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> w, Vector256<sbyte> x) => AvxVnni.MultiplyWideningAndAdd(acc, u, x);
    public static int OffsetShift => 7; // 128·Σx
}

internal struct Avx2SignedDot : ISignedDot
{
    public static Vector256<byte> Unsigned(Vector256<sbyte> w) => Avx2.Abs(w);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Add(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> w, Vector256<sbyte> x) => acc + IntDot.Dot(u, Avx2.Sign(x, w));
    public static int OffsetShift => -1;
}

/// <summary>Q8_0 × Q8_0 over the interleaved layout: exact int32 dots per block for 8 rows at once, times d_w·d_x.</summary>
internal sealed unsafe class Q8_0x8Kernel() : Interleaved8Kernel(new Q8_0Kernel())
{
    private const int GroupBlockBytes = Q8_0x8.Rows * 34;

    protected override bool SimdSupported => Q8_0x8.IsSupported;

    protected override void Group(byte* g, byte* x, int cols, float* dots)
    {
        if (Kernels.UseVnni) One<VnniSignedDot>(g, x, cols, dots);
        else One<Avx2SignedDot>(g, x, cols, dots);
    }

    protected override void GroupTile(byte* g, byte* x, long pb, int cols, float* dots)
    {
        if (Kernels.UseVnni) Tile4<VnniSignedDot>(g, x, pb, cols, dots);
        else Tile4<Avx2SignedDot>(g, x, pb, cols, dots);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void One<TDot>(byte* g, byte* x, int cols, float* dots) where TDot : struct, ISignedDot
    {
        var L = new Q8Layout(cols);
        sbyte* xb = (sbyte*)x;
        float* xd = (float*)(x + L.DOff);
        int* xsum = (int*)(x + L.SumOff);
        var acc = Vector256<float>.Zero;
        byte* blk = g;
        for (int b = 0; b < L.Blocks; b++, blk += GroupBlockBytes, xb += 32)
        {
            if ((b & 1) == 0) Interleave8.PrefetchAhead(blk, 2 * GroupBlockBytes, Interleave8.FarAheadBytes); // every 2 blocks, 2 blocks
            var i = Vector256<int>.Zero;
            for (int c = 0; c < 8; c++)
            {
                var w = Vector256.Load((sbyte*)blk + 16 + 32 * c);
                i = TDot.Add(i, TDot.Unsigned(w), w, Broadcast(xb + 4 * c));
            }
            acc = Interleave8.AddBlock(i, xsum + b, xd + b, HalfBits.ToSingleFinite((ushort*)blk), acc, TDot.OffsetShift);
        }
        acc.Store(dots);
    }

    /// <summary>
    /// Four tokens per pass. Pointers advance block by block and the chunk loop is unrolled, so every load is a fixed
    /// offset from a pointer (indexed loads cost more address arithmetic than SIMD work between the multiplies).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4<TDot>(byte* g, byte* x, long pb, int cols, float* dots) where TDot : struct, ISignedDot
    {
        var L = new Q8Layout(cols);
        sbyte* x0 = (sbyte*)x, x1 = x0 + pb, x2 = x1 + pb, x3 = x2 + pb;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        byte* blk = g;
        for (int b = 0; b < L.Blocks; b++, blk += GroupBlockBytes, x0 += 32, x1 += 32, x2 += 32, x3 += 32)
        {
            Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default;
            for (int c = 0; c < 8; c++) Chunk<TDot>(c, blk, x0, x1, x2, x3, ref i0, ref i1, ref i2, ref i3);
            Interleave8.AddBlock4(i0, i1, i2, i3, x, L, b, pb, HalfBits.ToSingleFinite((ushort*)blk), TDot.OffsetShift, ref a0, ref a1, ref a2, ref a3);
        }
        a0.Store(dots);
        a1.Store(dots + 8);
        a2.Store(dots + 16);
        a3.Store(dots + 24);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Chunk<TDot>(int c, byte* blk, sbyte* x0, sbyte* x1, sbyte* x2, sbyte* x3,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3) where TDot : struct, ISignedDot
    {
        var w = Vector256.Load((sbyte*)blk + 16 + 32 * c);
        var u = TDot.Unsigned(w);
        i0 = TDot.Add(i0, u, w, Broadcast(x0 + 4 * c));
        i1 = TDot.Add(i1, u, w, Broadcast(x1 + 4 * c));
        i2 = TDot.Add(i2, u, w, Broadcast(x2 + 4 * c));
        i3 = TDot.Add(i3, u, w, Broadcast(x3 + 4 * c));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Broadcast(sbyte* p) => Avx2.BroadcastScalarToVector256((int*)p).AsSByte();

    /// <summary>Scalar twin of <see cref="Group"/>, reading the interleaved layout element by element.</summary>
    protected override void GroupScalar(byte* g, byte* x, int cols, float* dots)
    {
        var L = new Q8Layout(cols);
        sbyte* xq = (sbyte*)x;
        float* xd = (float*)(x + L.DOff);
        for (int r = 0; r < Q8_0x8.Rows; r++) dots[r] = 0;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = g + b * GroupBlockBytes;
            for (int r = 0; r < Q8_0x8.Rows; r++)
            {
                int s = 0;
                for (int c = 0; c < 8; c++)
                    for (int k = 0; k < 4; k++)
                        s += ((sbyte*)blk)[16 + 32 * c + 4 * r + k] * xq[32 * b + 4 * c + k];
                dots[r] += s * (HalfBits.ToSingleFast(((ushort*)blk)[r]) * xd[b]);
            }
        }
    }
}
