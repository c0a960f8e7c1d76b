using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>
/// Q6_K repacked for 8 rows at a time, the same bytes as plain. For each group of 8 rows and 256-element super-block
/// (1680 bytes):
/// <code>
///    0  d[8]                f16, row r at 2r
///   16  scales[16][8]       int8: sub-block j of row r at 16 + 8j + r
///  144  quants[2][8][3][32] for half n and step t: ql bytes 64n+4t.., ql bytes 64n+32+4t.., qh bytes 32n+4t..,
///                           each as 8 rows × 4 bytes (row r at 4r)
/// </code>
/// One step's three chunks rebuild the 6-bit quants of elements 128n+4t.., +32, +64, +96 (4 each) of all 8 rows,
/// row r in lane r, so a 4-byte broadcast of the activations gives every row's partial dot in its own lane.
/// </summary>
public static class Q6_Kx8
{
    public const int Rows = Interleaved8Kernel.Rows;
    private const int BlockBytes = 210;

    /// <summary>Whether this machine has the kernel (AVX2).</summary>
    public static bool IsSupported => Avx2.IsSupported;

    public static void Repack(ReadOnlySpan<byte> src, Span<byte> dst, int rows, int cols) =>
        Interleave8.Repack(src, dst, rows, cols / 256, BlockBytes, static (i, o, r) =>
        {
            i.Slice(BlockLayout.Q6_K_D, 2).CopyTo(o.Slice(2 * r, 2));
            for (int j = 0; j < 16; j++) o[16 + 8 * j + r] = i[BlockLayout.Q6_K_Scales + j];
            for (int n = 0; n < 2; n++)
                for (int t = 0; t < 8; t++)
                {
                    int step = 144 + 96 * (8 * n + t) + 4 * r;
                    i.Slice(64 * n + 4 * t, 4).CopyTo(o.Slice(step, 4));
                    i.Slice(64 * n + 32 + 4 * t, 4).CopyTo(o.Slice(step + 32, 4));
                    i.Slice(BlockLayout.Q6_K_Qh + 32 * n + 4 * t, 4).CopyTo(o.Slice(step + 64, 4));
                }
        });
}

/// <summary>
/// Q6_K × Q8_K over the interleaved layout: per sub-block an exact int32 dot for each of 8 rows, less 32·Σx, times
/// the row's scale, summed per super-block, then d·xd in float (ggml's vec_dot_q6_K_q8_K, 8 rows at once).
/// </summary>
internal sealed unsafe class Q6_Kx8Kernel() : Interleaved8Kernel(new Q6KKernel())
{
    private const int GroupBlockBytes = 8 * 210;

    protected override bool SimdSupported => Q6_Kx8.IsSupported;

    protected override void Group(byte* g, byte* x, int cols, float* dots)
    {
        if (Kernels.UseVnni) One<VnniDot>(g, x, cols, dots);
        else OneMadd(g, x, cols, dots);
    }

    protected override void GroupTile(byte* g, byte* x, long pb, int cols, float* dots)
    {
        if (Kernels.UseVnni) Tile4<VnniDot>(g, x, pb, cols, dots);
        else Tile4Madd(g, x, pb, cols, dots);
    }

    /// <summary>
    /// Eight tokens per unpacking where the JIT has 32 vector registers (AVX-512 machines): a Q6_K step spends about
    /// 5 operations rebuilding 6-bit quants for 4 vpdpbusd at 4 tokens, so twice the tokens nearly halve that share.
    /// </summary>
    protected override bool HasTile8 => Kernels.UseVnni && Vector512.IsHardwareAccelerated;

    protected override void GroupTile8(byte* g, byte* x, long pb, int cols, float* dots) => Tile8<VnniDot>(g, x, pb, cols, dots);

    /// <summary>
    /// <see cref="Tile4"/> for 8 tokens: the same integer sums per token and sub-block (−32·Σx off, times the rows'
    /// scale), the same float step per super-block; the float sums wait in <paramref name="dots"/> between blocks.
    /// </summary>
    // Compiled on its own, as Tile4Madd: inlined into GroupTile8 it ran out of the JIT's inline budget and called
    // SubBlock8 and Finish with its eight accumulators in memory.
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void Tile8<TDot>(byte* g, byte* x, long pb, int cols, float* dots) where TDot : struct, IByteDot
    {
        var L = new Q8KLayout(cols);
        for (int i = 0; i < 8 * Q6_Kx8.Rows; i++) dots[i] = 0;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = g + b * GroupBlockBytes;
            int o = 256 * b;
            Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default, i4 = default, i5 = default, i6 = default, i7 = default;
            for (int n = 0; n < 2; n++)
                for (int half = 0; half < 2; half++)
                {
                    SubBlock8<TDot>(blk, x, pb, L, b, n, half, 0, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
                    SubBlock8<TDot>(blk, x, pb, L, b, n, half, 1, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
                    SubBlock8<TDot>(blk, x, pb, L, b, n, half, 2, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
                    SubBlock8<TDot>(blk, x, pb, L, b, n, half, 3, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
                }
            var d = HalfBits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)blk).ToVector256Unsafe()));
            Finish(dots, i0, d, x, L, b);
            Finish(dots + 8, i1, d, x + pb, L, b);
            Finish(dots + 16, i2, d, x + 2 * pb, L, b);
            Finish(dots + 24, i3, d, x + 3 * pb, L, b);
            Finish(dots + 32, i4, d, x + 4 * pb, L, b);
            Finish(dots + 40, i5, d, x + 5 * pb, L, b);
            Finish(dots + 48, i6, d, x + 6 * pb, L, b);
            Finish(dots + 56, i7, d, x + 7 * pb, L, b);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish(float* acc, Vector256<int> sumi, Vector256<float> d, byte* x, Q8KLayout L, int b) =>
        Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sumi), d * Vector256.Create(((float*)(x + L.DOff))[b]), Vector256.Load(acc)).Store(acc);

    /// <summary><see cref="SubBlock{TDot}"/> for 8 tokens, <paramref name="pb"/> apart from <paramref name="x0"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SubBlock8<TDot>(byte* blk, byte* x0, long pb, Q8KLayout L, int b, int n, int half, int set,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3,
        ref Vector256<int> i4, ref Vector256<int> i5, ref Vector256<int> i6, ref Vector256<int> i7) where TDot : struct, IByteDot
    {
        Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
        for (int t = 4 * half; t < 4 * half + 4; t++)
        {
            var q = Quants(blk + 144 + 96 * (8 * n + t), set);
            byte* xe = x0 + 256 * b + 128 * n + 4 * t + 32 * set;
            s0 = TDot.Add(s0, q, X(xe, 0));
            s1 = TDot.Add(s1, q, X(xe + pb, 0));
            s2 = TDot.Add(s2, q, X(xe + 2 * pb, 0));
            s3 = TDot.Add(s3, q, X(xe + 3 * pb, 0));
            s4 = TDot.Add(s4, q, X(xe + 4 * pb, 0));
            s5 = TDot.Add(s5, q, X(xe + 5 * pb, 0));
            s6 = TDot.Add(s6, q, X(xe + 6 * pb, 0));
            s7 = TDot.Add(s7, q, X(xe + 7 * pb, 0));
        }
        int j = 8 * n + half + 2 * set, k = 16 * b + j;
        var scale = Scale(blk, j);
        short* bs = (short*)(x0 + L.BsumOff) + k;
        i0 += Avx2.MultiplyLow(s0 - Vector256.Create(32 * bs[0]), scale);
        i1 += Avx2.MultiplyLow(s1 - Vector256.Create(32 * *(short*)((byte*)bs + pb)), scale);
        i2 += Avx2.MultiplyLow(s2 - Vector256.Create(32 * *(short*)((byte*)bs + 2 * pb)), scale);
        i3 += Avx2.MultiplyLow(s3 - Vector256.Create(32 * *(short*)((byte*)bs + 3 * pb)), scale);
        i4 += Avx2.MultiplyLow(s4 - Vector256.Create(32 * *(short*)((byte*)bs + 4 * pb)), scale);
        i5 += Avx2.MultiplyLow(s5 - Vector256.Create(32 * *(short*)((byte*)bs + 5 * pb)), scale);
        i6 += Avx2.MultiplyLow(s6 - Vector256.Create(32 * *(short*)((byte*)bs + 6 * pb)), scale);
        i7 += Avx2.MultiplyLow(s7 - Vector256.Create(32 * *(short*)((byte*)bs + 7 * pb)), scale);
    }

    /// <summary>The quants of one step: elements 128n+4t+{0,32,64,96}.. of the 8 rows (values 0..63).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unpack(byte* step, out Vector256<byte> q1, out Vector256<byte> q2, out Vector256<byte> q3, out Vector256<byte> q4)
    {
        var low4 = Vector256.Create((byte)0x0F);
        var two = Vector256.Create((byte)0x30);
        var a = Vector256.Load(step);
        var b = Vector256.Load(step + 32);
        var h = Vector256.Load(step + 64);
        var h16 = h.AsUInt16();
        q1 = (a & low4) | ((h16 << 4).AsByte() & two);
        q2 = (b & low4) | ((h16 << 2).AsByte() & two);
        q3 = ((a.AsUInt16() >> 4).AsByte() & low4) | (h & two);
        q4 = ((b.AsUInt16() >> 4).AsByte() & low4) | ((h16 >> 2).AsByte() & two);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> X(byte* x, int offset) => Avx2.BroadcastScalarToVector256((int*)(x + offset)).AsSByte();

    /// <summary>Row scales of sub-block j as int32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Scale(byte* blk, int j) => Avx2.ConvertToVector256Int32((sbyte*)blk + 16 + 8 * j);

    // One token with VNNI: vpdpbusd accumulates straight into int32, so there is no pair sum to keep narrow.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void One<TDot>(byte* g, byte* x, int cols, float* dots) where TDot : struct, IByteDot
    {
        var L = new Q8KLayout(cols);
        float* xd = (float*)(x + L.DOff);
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = g + b * GroupBlockBytes;
            Interleave8.PrefetchAhead(blk, GroupBlockBytes);
            short* bs = (short*)(x + L.BsumOff) + 16 * b;
            int o = 256 * b;
            var sumi = Vector256<int>.Zero;
            for (int n = 0; n < 2; n++)
                for (int half = 0; half < 2; half++)
                {
                    Vector256<int> s1 = default, s2 = default, s3 = default, s4 = default;
                    for (int t = 4 * half; t < 4 * half + 4; t++)
                    {
                        Unpack(blk + 144 + 96 * (8 * n + t), out var q1, out var q2, out var q3, out var q4);
                        int e = o + 128 * n + 4 * t;
                        s1 = TDot.Add(s1, q1, X(x, e));
                        s2 = TDot.Add(s2, q2, X(x, e + 32));
                        s3 = TDot.Add(s3, q3, X(x, e + 64));
                        s4 = TDot.Add(s4, q4, X(x, e + 96));
                    }
                    // Sub-blocks 8n+half+{0,2,4,6}; q = u − 32 takes 32·Σx of the sub-block off before the scale.
                    int j = 8 * n + half;
                    sumi += Avx2.MultiplyLow(s1 - Vector256.Create(32 * bs[j]), Scale(blk, j));
                    sumi += Avx2.MultiplyLow(s2 - Vector256.Create(32 * bs[j + 2]), Scale(blk, j + 2));
                    sumi += Avx2.MultiplyLow(s3 - Vector256.Create(32 * bs[j + 4]), Scale(blk, j + 4));
                    sumi += Avx2.MultiplyLow(s4 - Vector256.Create(32 * bs[j + 6]), Scale(blk, j + 6));
                }
            var d = HalfBits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)blk).ToVector256Unsafe()));
            acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sumi), d * Vector256.Create(xd[b]), acc);
        }
        acc.Store(dots);
    }

    /// <summary>
    /// One token without VNNI, in <see cref="Tile4Madd"/>'s arithmetic: a step pair's byte pair sums added in int16 and
    /// widened by one vpmaddwd against the sub-block's scales, the −32 offset taken off once per super-block from the
    /// bsums. All four q-sets of a step come from one unpack (one token has nothing to share them with).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void OneMadd(byte* g, byte* x, int cols, float* dots)
    {
        var L = new Q8KLayout(cols);
        var acc = Vector256<float>.Zero;
        var twice = Vector128.Create((byte)0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
        var pairs = Vector128.Create((byte)0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
        byte* blk = g;
        short* bs = (short*)(x + L.BsumOff);
        float* xd = (float*)(x + L.DOff);
        for (int b = 0; b < L.Blocks; b++, blk += GroupBlockBytes, bs += 16)
        {
            Interleave8.PrefetchAhead(blk, GroupBlockBytes);
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
            byte* xb = x + 256 * b;
            for (int n = 0; n < 2; n++)
                for (int half = 0; half < 2; half++)
                {
                    // Sub-blocks 8n + half + 2·set: the rows' scales, each twice per int32 lane.
                    byte* sc = blk + 16 + 8 * (8 * n + half);
                    var k0 = Avx2.ConvertToVector256Int16(Ssse3.Shuffle(Vector128.Load(sc), twice).AsSByte());
                    var k1 = Avx2.ConvertToVector256Int16(Ssse3.Shuffle(Vector128.Load(sc + 16), twice).AsSByte());
                    var k2 = Avx2.ConvertToVector256Int16(Ssse3.Shuffle(Vector128.Load(sc + 32), twice).AsSByte());
                    var k3 = Avx2.ConvertToVector256Int16(Ssse3.Shuffle(Vector128.Load(sc + 48), twice).AsSByte());
                    byte* step = blk + 144 + 96 * (8 * n + 4 * half);
                    byte* xs = xb + 128 * n + 16 * half;
                    for (int pair = 0; pair < 2; pair++, step += 192, xs += 8)
                    {
                        Unpack(step, out var q0, out var q1, out var q2, out var q3);
                        Unpack(step + 96, out var r0, out var r1, out var r2, out var r3);
                        s0 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q0, X(xs, 0)) + Avx2.MultiplyAddAdjacent(r0, X(xs, 4)), k0);
                        s1 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q1, X(xs, 32)) + Avx2.MultiplyAddAdjacent(r1, X(xs, 36)), k1);
                        s2 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q2, X(xs, 64)) + Avx2.MultiplyAddAdjacent(r2, X(xs, 68)), k2);
                        s3 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q3, X(xs, 96)) + Avx2.MultiplyAddAdjacent(r3, X(xs, 100)), k3);
                    }
                }
            // Σ_j scale_j·Σx_j per row, sub-blocks in pairs.
            var c = Vector256<int>.Zero;
            for (int p = 0; p < 8; p++)
            {
                var sc = Avx2.ConvertToVector256Int16(Ssse3.Shuffle(Vector128.Load(blk + 16 + 16 * p), pairs).AsSByte());
                c += Avx2.MultiplyAddAdjacent(sc, Avx2.BroadcastScalarToVector256((int*)(bs + 2 * p)).AsInt16());
            }
            var sumi = (s0 + s1) + (s2 + s3) - Avx2.ShiftLeftLogical(c, 5);
            var d = HalfBits.ToSingleFinite((ushort*)blk);
            acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sumi), d * Avx.BroadcastScalarToVector256(xd + b), acc);
        }
        acc.Store(dots);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4<TDot>(byte* g, byte* x, long pb, int cols, float* dots) where TDot : struct, IByteDot
    {
        var L = new Q8KLayout(cols);
        byte* x0 = x, x1 = x + pb, x2 = x + 2 * pb, x3 = x + 3 * pb;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = g + b * GroupBlockBytes;
            int o = 256 * b;
            Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default;
            for (int n = 0; n < 2; n++)
                for (int half = 0; half < 2; half++)
                {
                    SubBlock<TDot>(blk, x0, pb, L, b, n, half, 0, ref i0, ref i1, ref i2, ref i3);
                    SubBlock<TDot>(blk, x0, pb, L, b, n, half, 1, ref i0, ref i1, ref i2, ref i3);
                    SubBlock<TDot>(blk, x0, pb, L, b, n, half, 2, ref i0, ref i1, ref i2, ref i3);
                    SubBlock<TDot>(blk, x0, pb, L, b, n, half, 3, ref i0, ref i1, ref i2, ref i3);
                }
            var d = HalfBits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)blk).ToVector256Unsafe()));
            a0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i0), d * Vector256.Create(((float*)(x0 + L.DOff))[b]), a0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i1), d * Vector256.Create(((float*)(x1 + L.DOff))[b]), a1);
            a2 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i2), d * Vector256.Create(((float*)(x2 + L.DOff))[b]), a2);
            a3 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i3), d * Vector256.Create(((float*)(x3 + L.DOff))[b]), a3);
        }
        a0.Store(dots);
        a1.Store(dots + 8);
        a2.Store(dots + 16);
        a3.Store(dots + 24);
    }

    /// <summary>The quants of one q-set of a step (elements 128n+4t+32·set..), 8 rows; set is a constant at each call.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Quants(byte* step, int set)
    {
        var ql = Vector256.Load(step + 32 * (set & 1));
        var h = Vector256.Load(step + 64).AsUInt16();
        var low = set < 2 ? ql & Vector256.Create((byte)0x0F) : (ql.AsUInt16() >> 4).AsByte() & Vector256.Create((byte)0x0F);
        var high = set switch { 0 => h << 4, 1 => h << 2, 2 => h, _ => h >> 2 };
        return low | (high.AsByte() & Vector256.Create((byte)0x30));
    }

    /// <summary>
    /// Sub-block 8n + half + 2·set for four tokens: exact dots over its 16 elements (4 steps), less 32·Σx, times the
    /// rows' scale, into each token's int32 sums.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SubBlock<TDot>(byte* blk, byte* x0, long pb, Q8KLayout L, int b, int n, int half, int set,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3) where TDot : struct, IByteDot
    {
        byte* x1 = x0 + pb, x2 = x1 + pb, x3 = x2 + pb;
        Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
        for (int t = 4 * half; t < 4 * half + 4; t++)
        {
            var q = Quants(blk + 144 + 96 * (8 * n + t), set);
            int e = 256 * b + 128 * n + 4 * t + 32 * set;
            s0 = TDot.Add(s0, q, X(x0, e));
            s1 = TDot.Add(s1, q, X(x1, e));
            s2 = TDot.Add(s2, q, X(x2, e));
            s3 = TDot.Add(s3, q, X(x3, e));
        }
        int j = 8 * n + half + 2 * set, k = 16 * b + j;
        var scale = Scale(blk, j);
        i0 += Avx2.MultiplyLow(s0 - Vector256.Create(32 * ((short*)(x0 + L.BsumOff))[k]), scale);
        i1 += Avx2.MultiplyLow(s1 - Vector256.Create(32 * ((short*)(x1 + L.BsumOff))[k]), scale);
        i2 += Avx2.MultiplyLow(s2 - Vector256.Create(32 * ((short*)(x2 + L.BsumOff))[k]), scale);
        i3 += Avx2.MultiplyLow(s3 - Vector256.Create(32 * ((short*)(x3 + L.BsumOff))[k]), scale);
    }

    /// <summary>
    /// <see cref="Tile4"/> without VNNI, as ggml's AVX2 q6_K dot arranges it. Two steps' byte pair sums stay in int16
    /// (2·2·63·128 fits), and one vpmaddwd against the sub-block's scale, in both halves of each lane, widens and scales
    /// them at once. The −32 offset of every quant comes off once per super-block: 32·Σ_j scale_j·Σx_j, from vpmaddwd of
    /// the rows' scale pairs against each token's pairs of sub-block sums. Integer sums are the same as Tile4's.
    /// </summary>
    // Compiled on its own: inlined into GroupTile the JIT's inline budget ran out and left SubBlockMadd and Quants as
    // calls with the accumulators in memory (perf showed them as frames); prefill ran at half this speed.
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void Tile4Madd(byte* g, byte* x, long pb, int cols, float* dots)
    {
        var L = new Q8KLayout(cols);
        byte* x0 = x, x1 = x + pb, x2 = x + 2 * pb, x3 = x + 3 * pb;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        // Byte shuffles: each row's scale twice (lane r = (s_r, s_r)), and rows of two sub-blocks paired.
        var twice = Vector128.Create((byte)0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
        var pairs = Vector128.Create((byte)0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
        byte* blk = g;
        for (int b = 0; b < L.Blocks; b++, blk += GroupBlockBytes)
        {
            int o = 256 * b;
            Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default;
            for (int n = 0; n < 2; n++)
                for (int half = 0; half < 2; half++)
                {
                    // set is a constant at each call, so each one's bit selection compiles to fixed shifts.
                    byte* step = blk + 144 + 96 * (8 * n + 4 * half);
                    byte* xs = x0 + o + 128 * n + 16 * half;
                    byte* sc = blk + 16 + 8 * (8 * n + half);
                    SubBlockMadd(step, 0, xs, pb, sc, twice, ref i0, ref i1, ref i2, ref i3);
                    SubBlockMadd(step, 1, xs, pb, sc, twice, ref i0, ref i1, ref i2, ref i3);
                    SubBlockMadd(step, 2, xs, pb, sc, twice, ref i0, ref i1, ref i2, ref i3);
                    SubBlockMadd(step, 3, xs, pb, sc, twice, ref i0, ref i1, ref i2, ref i3);
                }
            // Σ_j scale_j·Σx_j per row and token, sub-blocks in pairs: 8 vpmaddwd per token.
            Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default;
            short* bs = (short*)(x0 + L.BsumOff) + 16 * b;
            for (int p = 0; p < 8; p++)
            {
                var sc = Avx2.ConvertToVector256Int16(Ssse3.Shuffle(Vector128.Load(blk + 16 + 16 * p), pairs).AsSByte());
                c0 += Avx2.MultiplyAddAdjacent(sc, Avx2.BroadcastScalarToVector256((int*)(bs + 2 * p)).AsInt16());
                c1 += Avx2.MultiplyAddAdjacent(sc, Avx2.BroadcastScalarToVector256((int*)((byte*)(bs + 2 * p) + pb)).AsInt16());
                c2 += Avx2.MultiplyAddAdjacent(sc, Avx2.BroadcastScalarToVector256((int*)((byte*)(bs + 2 * p) + 2 * pb)).AsInt16());
                c3 += Avx2.MultiplyAddAdjacent(sc, Avx2.BroadcastScalarToVector256((int*)((byte*)(bs + 2 * p) + 3 * pb)).AsInt16());
            }
            var d = HalfBits.ToSingleFinite((ushort*)blk);
            float* xd = (float*)(x0 + L.DOff) + b;
            a0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i0 - Avx2.ShiftLeftLogical(c0, 5)), d * Avx.BroadcastScalarToVector256(xd), a0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i1 - Avx2.ShiftLeftLogical(c1, 5)), d * Avx.BroadcastScalarToVector256((float*)((byte*)xd + pb)), a1);
            a2 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i2 - Avx2.ShiftLeftLogical(c2, 5)), d * Avx.BroadcastScalarToVector256((float*)((byte*)xd + 2 * pb)), a2);
            a3 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(i3 - Avx2.ShiftLeftLogical(c3, 5)), d * Avx.BroadcastScalarToVector256((float*)((byte*)xd + 3 * pb)), a3);
        }
        a0.Store(dots);
        a1.Store(dots + 8);
        a2.Store(dots + 16);
        a3.Store(dots + 24);
    }

    /// <summary>
    /// One sub-block (16 elements, 4 steps from <paramref name="step"/>, q-set <paramref name="set"/>) for four tokens
    /// whose activations start at <paramref name="xs"/>, <paramref name="pb"/> apart: unsigned quants times x, scaled,
    /// into each token's sums.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SubBlockMadd(byte* step, int set, byte* xs, long pb, byte* scales, Vector128<byte> twice,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3)
    {
        // Sub-block j = 8n + half + 2·set: its 8 rows' scales at 16·set past the first, each twice per lane.
        var scale = Avx2.ConvertToVector256Int16(Ssse3.Shuffle(Vector128.Load(scales + 16 * set), twice).AsSByte());
        xs += 32 * set;
        for (int pair = 0; pair < 2; pair++, step += 192, xs += 8)
        {
            var qa = Quants(step, set);
            var qb = Quants(step + 96, set);
            i0 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(qa, X(xs, 0)) + Avx2.MultiplyAddAdjacent(qb, X(xs, 4)), scale);
            i1 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(qa, X(xs + pb, 0)) + Avx2.MultiplyAddAdjacent(qb, X(xs + pb, 4)), scale);
            i2 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(qa, X(xs + 2 * pb, 0)) + Avx2.MultiplyAddAdjacent(qb, X(xs + 2 * pb, 4)), scale);
            i3 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(qa, X(xs + 3 * pb, 0)) + Avx2.MultiplyAddAdjacent(qb, X(xs + 3 * pb, 4)), scale);
        }
    }

    /// <summary>Scalar twin of <see cref="Group"/>, reading the interleaved layout element by element.</summary>
    protected override void GroupScalar(byte* g, byte* x, int cols, float* dots)
    {
        var L = new Q8KLayout(cols);
        sbyte* xq = (sbyte*)x;
        float* xd = (float*)(x + L.DOff);
        for (int r = 0; r < Q6_Kx8.Rows; r++) dots[r] = 0;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = g + b * GroupBlockBytes;
            for (int r = 0; r < Q6_Kx8.Rows; r++)
            {
                int sumi = 0;
                for (int e = 0; e < 256; e++)
                {
                    int n = e / 128, within = e % 128, set = within / 32, l = within % 32, t = l / 4, k = l % 4;
                    byte* step = blk + 144 + 96 * (8 * n + t) + 4 * r + k;
                    int ql = set % 2 == 0 ? step[0] : step[32];
                    int low = set < 2 ? ql & 0xF : ql >> 4;
                    int high = (step[64] >> (2 * set)) & 3;
                    int q = (low | (high << 4)) - 32;
                    int j = e / 16;
                    sumi += ((sbyte*)blk)[16 + 8 * j + r] * q * xq[256 * b + e];
                }
                dots[r] += xd[b] * HalfBits.ToSingleFast(((ushort*)blk)[r]) * sumi;
            }
        }
    }
}
