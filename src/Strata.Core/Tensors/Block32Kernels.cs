using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>
/// Q8_0 weights x Q8_0 activations (ggml's vec_dot_q8_0_q8_0): per block an exact int32 dot, times d_w*d_x, summed in float.
/// SIMD: |w| as the unsigned operand and x with w's sign, 2 blocks per 512-bit step.
/// </summary>
internal sealed unsafe class Q8_0Kernel : RowKernel
{
    private const int BlockBytes = 34;

    public override GgmlType Type => GgmlType.Q8_0;
    public override int PreparedBytes(int cols) => new Q8Layout(cols).Bytes;
    public override void Prepare(ReadOnlySpan<float> x, Span<byte> prepared) => ActivationQuant.Q8(x, prepared);

    protected override float DotRow(byte* w, byte* x, int cols)
    {
        var L = new Q8Layout(cols);
        sbyte* xq = (sbyte*)x;
        float* xd = (float*)(x + L.DOff);
        int nb = L.Blocks, b = 0;
        float sum = 0;
        if (Kernels.Int256)
        {
            // one block per 256-bit step (see Block32Kernel); scales of 8 blocks converted at once
            Vector256<float> acc0 = default, acc1 = default;
            float* d8 = stackalloc float[8];
            var gather = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * BlockBytes;
            for (; b + 8 <= nb; b += 8)
            {
                byte* blk = w + b * BlockBytes;
                (HalfBits.ToSingle(Avx2.GatherVector256((int*)blk, gather, 1).AsUInt32() & Vector256.Create(0xFFFFu)) * Vector256.Load(xd + b)).Store(d8);
                for (int j = 0; j < 8; j += 2)
                {
                    acc0 = Block(blk + j * BlockBytes, xq + 32 * (b + j), d8[j], acc0);
                    acc1 = Block(blk + (j + 1) * BlockBytes, xq + 32 * (b + j + 1), d8[j + 1], acc1);
                }
            }
            sum = Vector256.Sum(acc0 + acc1);
        }
        if (Kernels.Int256)
        {
            var acc = Vector256<float>.Zero;
            for (; b < nb; b++)
            {
                byte* b0 = w + b * BlockBytes;
                var wv = Vector256.Load((sbyte*)b0 + 2);
                var p = IntDot.Dot(Avx2.Abs(wv), Avx2.Sign(Vector256.Load(xq + 32 * b), wv));
                acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p), Vector256.Create(HalfBits.ToSingleFast(*(ushort*)b0) * xd[b]), acc);
            }
            sum += Vector256.Sum(acc);
        }
        for (; b < nb; b++) sum += BlockScalar(w + b * BlockBytes, xq + 32 * b, xd[b]);
        return sum;
    }

    /// <summary>One block: |w| times x with w's sign (exact int32 lanes), times d_w*d_x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Block(byte* blk, sbyte* xq, float d, Vector256<float> acc)
    {
        var wv = Vector256.Load((sbyte*)blk + 2);
        var p = IntDot.Dot(Avx2.Abs(wv), Avx2.Sign(Vector256.Load(xq), wv));
        return Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p), Vector256.Create(d), acc);
    }

    protected override float DotRowScalar(byte* w, byte* x, int cols)
    {
        var L = new Q8Layout(cols);
        float sum = 0;
        for (int b = 0; b < L.Blocks; b++) sum += BlockScalar(w + b * BlockBytes, (sbyte*)x + 32 * b, ((float*)(x + L.DOff))[b]);
        return sum;
    }

    private static float BlockScalar(byte* blk, sbyte* xq, float xd)
    {
        int s = 0;
        for (int j = 0; j < 32; j++) s += ((sbyte*)blk)[2 + j] * xq[j];
        return s * (HalfBits.ToSingleFast(*(ushort*)blk) * xd);
    }
}

/// <summary>
/// A 32-element block type with unsigned quants u (value = (u - Offset)*d, or u*d + m when HasMin).
/// Unpack returns the 32 quants in element order.
/// </summary>
internal unsafe interface IBlock32Format
{
    static abstract GgmlType Type { get; }
    static abstract int Bytes { get; }
    static abstract int Offset { get; }
    static abstract bool HasMin { get; }
    /// <summary>Whether quants have a fifth bit, held in a 32-bit word after the scales (Q5_0, Q5_1).</summary>
    static abstract bool HasHigh { get; }
    static abstract Vector256<byte> Unpack(byte* blk);
    static abstract int Quant(byte* blk, int j);
}

/// <summary>
/// Q4_0/Q4_1/Q5_0/Q5_1 weights x Q8_0/Q8_1 activations (ggml's vec_dot_q4_0_q8_0 etc.). The offset term
/// -Offset*sum(x) is added to the exact int32 lane sums, so each block's integer dot equals ggml's.
/// </summary>
internal sealed unsafe class Block32Kernel<T> : RowKernel where T : struct, IBlock32Format
{
    public override GgmlType Type => T.Type;
    public override int PreparedBytes(int cols) => new Q8Layout(cols).Bytes;
    public override void Prepare(ReadOnlySpan<float> x, Span<byte> prepared) => ActivationQuant.Q8(x, prepared, T.Offset);

    protected override float DotRow(byte* w, byte* x, int cols)
    {
        var L = new Q8Layout(cols);
        sbyte* xq = (sbyte*)x;
        float* xd = (float*)(x + L.DOff);
        float* xs = (float*)(x + L.SOff);
        int nb = L.Blocks, b = 0;
        float sum = 0, sumMin = 0;
        if (Kernels.Int256)
        {
            // One block per 256-bit step, no cross-lane shuffles (on Zen 4 a 512-bit step costs two and the
            // pairing needs three shuffles, which made that path shuffle-bound). Scales of 8 blocks are gathered,
            // converted and multiplied by the activation scales at once, then broadcast from a small buffer.
            Vector256<float> acc0 = default, acc1 = default, accMin = default;
            int* bias = (int*)(x + L.BiasOff);
            float* d8 = stackalloc float[8];
            var gather = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * T.Bytes;
            for (; b + 8 <= nb; b += 8)
            {
                byte* blk = w + b * T.Bytes;
                var raw = Avx2.GatherVector256((int*)blk, gather, 1).AsUInt32();
                (HalfBits.ToSingle(raw & Vector256.Create(0xFFFFu)) * Vector256.Load(xd + b)).Store(d8);
                if (T.HasMin) accMin = Vector256.FusedMultiplyAdd(HalfBits.ToSingle(raw >> 16), Vector256.Load(xs + b), accMin);
                for (int j = 0; j < 8; j += 2)
                {
                    acc0 = Block(blk + j * T.Bytes, xq + 32 * (b + j), bias + 8 * (b + j), d8[j], acc0);
                    acc1 = Block(blk + (j + 1) * T.Bytes, xq + 32 * (b + j + 1), bias + 8 * (b + j + 1), d8[j + 1], acc1);
                }
            }
            sum = Vector256.Sum(acc0 + acc1);
            if (T.HasMin) sumMin = Vector256.Sum(accMin);
        }
        if (Kernels.Int256) return Rest(w, x, L, b, sum, sumMin);
        for (; b < nb; b++) sum += BlockScalar(w + b * T.Bytes, xq + 32 * b, xd[b], xs[b]);
        return sum + sumMin;
    }

    /// <summary>
    /// The blocks from <paramref name="b"/> on, one at a time, added to the sums of the blocks before: how a dot ends
    /// past its last whole group of 8 blocks, in every path.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Rest(byte* w, byte* x, in Q8Layout L, int b, float sum, float sumMin)
    {
        var acc = Vector256<float>.Zero;
        for (; b < L.Blocks; b++)
        {
            byte* b0 = w + b * T.Bytes;
            var p = IntDot.Dot(T.Unpack(b0), Vector256.Load((sbyte*)x + 32 * b));
            if (T.Offset != 0) p += Vector256.CreateScalar(-T.Offset * ((int*)(x + L.SumOff))[b]);
            acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p), Vector256.Create(HalfBits.ToSingleFast(*(ushort*)b0) * ((float*)(x + L.DOff))[b]), acc);
            if (T.HasMin) sumMin += HalfBits.ToSingleFast(*(ushort*)(b0 + 2)) * ((float*)(x + L.SOff))[b];
        }
        return sum + Vector256.Sum(acc) + sumMin;
    }

    /// <summary>
    /// Batches in tiles of one row × 4 tokens: each block is unpacked (and its scales converted) once for the 4, which
    /// is most of what a block costs; every token's sum is formed exactly as <see cref="DotRow"/> forms it.
    /// </summary>
    protected override void DotRowTokens(byte* row, byte* x, int pb, int n, int cols, float* y, long yStride)
    {
        int t = 0;
        if (Kernels.Int256)
        {
            float* dots = stackalloc float[Tile];
            for (; t + Tile <= n; t += Tile)
            {
                Row4(row, x + (long)t * pb, pb, cols, dots);
                for (int j = 0; j < Tile; j++) y[(t + j) * yStride] = dots[j];
            }
        }
        for (; t < n; t++) y[t * yStride] = DotRow(row, x + (long)t * pb, cols);
    }

    private const int Tile = 4;

    /// <summary>dots[k] = DotRow(w, x + k*pb) for k &lt; 4, bit for bit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row4(byte* w, byte* x, int pb, int cols, float* dots)
    {
        var L = new Q8Layout(cols);
        byte* x1 = x + pb, x2 = x + 2 * pb, x3 = x + 3 * pb;
        int nb = L.Blocks, b = 0;
        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
        Vector256<float> m0 = default, m1 = default, m2 = default, m3 = default;
        float* d8 = stackalloc float[8 * Tile];
        var gather = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * T.Bytes;
        for (; b + 8 <= nb; b += 8)
        {
            byte* blk = w + b * T.Bytes;
            var raw = Avx2.GatherVector256((int*)blk, gather, 1).AsUInt32();
            var dw = HalfBits.ToSingle(raw & Vector256.Create(0xFFFFu));
            (dw * Vector256.Load((float*)(x + L.DOff) + b)).Store(d8);
            (dw * Vector256.Load((float*)(x1 + L.DOff) + b)).Store(d8 + 8);
            (dw * Vector256.Load((float*)(x2 + L.DOff) + b)).Store(d8 + 16);
            (dw * Vector256.Load((float*)(x3 + L.DOff) + b)).Store(d8 + 24);
            if (T.HasMin)
            {
                var mw = HalfBits.ToSingle(raw >> 16);
                m0 = Vector256.FusedMultiplyAdd(mw, Vector256.Load((float*)(x + L.SOff) + b), m0);
                m1 = Vector256.FusedMultiplyAdd(mw, Vector256.Load((float*)(x1 + L.SOff) + b), m1);
                m2 = Vector256.FusedMultiplyAdd(mw, Vector256.Load((float*)(x2 + L.SOff) + b), m2);
                m3 = Vector256.FusedMultiplyAdd(mw, Vector256.Load((float*)(x3 + L.SOff) + b), m3);
            }
            // even blocks into the first accumulator of each token, odd into the second, as DotRow pairs them
            // (both in one iteration: a branch on the parity made the JIT keep the accumulators on the stack)
            for (int j = 0; j < 8; j += 2)
            {
                Block4(blk + j * T.Bytes, x, pb, 32 * (b + j), (int*)(x + L.BiasOff) + 8 * (b + j), out var p0, out var p1, out var p2, out var p3);
                a00 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p0), Vector256.Create(d8[j]), a00);
                a10 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p1), Vector256.Create(d8[8 + j]), a10);
                a20 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p2), Vector256.Create(d8[16 + j]), a20);
                a30 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p3), Vector256.Create(d8[24 + j]), a30);
                Block4(blk + (j + 1) * T.Bytes, x, pb, 32 * (b + j + 1), (int*)(x + L.BiasOff) + 8 * (b + j + 1), out p0, out p1, out p2, out p3);
                a01 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p0), Vector256.Create(d8[j + 1]), a01);
                a11 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p1), Vector256.Create(d8[9 + j]), a11);
                a21 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p2), Vector256.Create(d8[17 + j]), a21);
                a31 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p3), Vector256.Create(d8[25 + j]), a31);
            }
        }
        dots[0] = Rest(w, x, L, b, Vector256.Sum(a00 + a01), T.HasMin ? Vector256.Sum(m0) : 0);
        dots[1] = Rest(w, x1, L, b, Vector256.Sum(a10 + a11), T.HasMin ? Vector256.Sum(m1) : 0);
        dots[2] = Rest(w, x2, L, b, Vector256.Sum(a20 + a21), T.HasMin ? Vector256.Sum(m2) : 0);
        dots[3] = Rest(w, x3, L, b, Vector256.Sum(a30 + a31), T.HasMin ? Vector256.Sum(m3) : 0);
    }

    /// <summary>One block unpacked once against 4 prepared tokens <paramref name="pb"/> bytes apart: their exact int32 lanes plus the offset bias.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block4(byte* blk, byte* x, int pb, int q, int* bias, out Vector256<int> p0, out Vector256<int> p1, out Vector256<int> p2, out Vector256<int> p3)
    {
        var u = T.Unpack(blk);
        p0 = IntDot.Dot(u, Vector256.Load((sbyte*)x + q));
        p1 = IntDot.Dot(u, Vector256.Load((sbyte*)x + pb + q));
        p2 = IntDot.Dot(u, Vector256.Load((sbyte*)x + 2 * pb + q));
        p3 = IntDot.Dot(u, Vector256.Load((sbyte*)x + 3 * pb + q));
        if (T.Offset != 0)
        {
            p0 += Vector256.Load(bias); p1 += Vector256.Load((int*)((byte*)bias + pb));
            p2 += Vector256.Load((int*)((byte*)bias + 2 * pb)); p3 += Vector256.Load((int*)((byte*)bias + 3 * pb));
        }
    }

    /// <summary>One block: exact int32 lanes plus the offset bias, times d_w*d_x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Block(byte* blk, sbyte* xq, int* bias, float d, Vector256<float> acc)
    {
        var p = IntDot.Dot(T.Unpack(blk), Vector256.Load(xq));
        if (T.Offset != 0) p += Vector256.Load(bias);
        return Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p), Vector256.Create(d), acc);
    }

    protected override float DotRowScalar(byte* w, byte* x, int cols)
    {
        var L = new Q8Layout(cols);
        float sum = 0;
        for (int b = 0; b < L.Blocks; b++)
            sum += BlockScalar(w + b * T.Bytes, (sbyte*)x + 32 * b, ((float*)(x + L.DOff))[b], ((float*)(x + L.SOff))[b]);
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float BlockScalar(byte* blk, sbyte* xq, float xd, float xs)
    {
        int s = 0;
        for (int j = 0; j < 32; j++) s += (T.Quant(blk, j) - T.Offset) * xq[j];
        float r = s * (HalfBits.ToSingleFast(*(ushort*)blk) * xd);
        if (T.HasMin) r += HalfBits.ToSingleFast(*(ushort*)(blk + 2)) * xs;
        return r;
    }
}

/// <summary>Nibble unpacking shared by the 4- and 5-bit formats: low nibbles are elements 0..15, high nibbles 16..31.</summary>
internal static unsafe class Nibbles
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Unpack(byte* qs)
    {
        // both lanes get the 16 bytes (a load, not a shuffle); the upper lane is shifted right by 4
        var v = Avx2.BroadcastVector128ToVector256(qs).AsUInt64();
        return Avx2.ShiftRightLogicalVariable(v, Vector256.Create(0ul, 0, 4, 4)).AsByte() & Vector256.Create((byte)0xF);
    }

    /// <summary>0x10 in byte j where bit j of qh is set (the fifth bit of the Q5 types).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> HighBits(uint qh)
    {
        // Byte i takes byte i/8 of the broadcast u32, then tests bit i%8. The masks are written here rather than held
        // in static fields: methods compiled with AggressiveOptimization read such fields through a helper call, and
        // a call in a tile's loop makes the JIT keep every accumulator on the stack.
        var spread = Vector256.Create((byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
        var bits = Vector256.Create((byte)1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
        var v = Avx2.Shuffle(Vector256.Create(qh).AsByte(), spread);
        return Vector256.Equals(v & bits, bits) & Vector256.Create((byte)0x10);
    }

    public static int Nibble(byte* qs, int j) => j < 16 ? qs[j] & 0xF : qs[j - 16] >> 4;
}

internal unsafe struct Q4_0Format : IBlock32Format
{
    public static GgmlType Type => GgmlType.Q4_0;
    public static int Bytes => 18;
    public static int Offset => 8;
    public static bool HasMin => false;
    public static bool HasHigh => false;
    public static Vector256<byte> Unpack(byte* blk) => Nibbles.Unpack(blk + 2);
    public static int Quant(byte* blk, int j) => Nibbles.Nibble(blk + 2, j);
}

internal unsafe struct Q4_1Format : IBlock32Format
{
    public static GgmlType Type => GgmlType.Q4_1;
    public static int Bytes => 20;
    public static int Offset => 0;
    public static bool HasMin => true;
    public static bool HasHigh => false;
    public static Vector256<byte> Unpack(byte* blk) => Nibbles.Unpack(blk + 4);
    public static int Quant(byte* blk, int j) => Nibbles.Nibble(blk + 4, j);
}

internal unsafe struct Q5_0Format : IBlock32Format
{
    public static GgmlType Type => GgmlType.Q5_0;
    public static int Bytes => 22;
    public static int Offset => 16;
    public static bool HasMin => false;
    public static bool HasHigh => true;
    public static Vector256<byte> Unpack(byte* blk) => Nibbles.Unpack(blk + 6) | Nibbles.HighBits(*(uint*)(blk + 2));
    public static int Quant(byte* blk, int j) => Nibbles.Nibble(blk + 6, j) | (int)((*(uint*)(blk + 2) >> j) & 1) << 4;
}

internal unsafe struct Q5_1Format : IBlock32Format
{
    public static GgmlType Type => GgmlType.Q5_1;
    public static int Bytes => 24;
    public static int Offset => 0;
    public static bool HasMin => true;
    public static bool HasHigh => true;
    public static Vector256<byte> Unpack(byte* blk) => Nibbles.Unpack(blk + 8) | Nibbles.HighBits(*(uint*)(blk + 4));
    public static int Quant(byte* blk, int j) => Nibbles.Nibble(blk + 8, j) | (int)((*(uint*)(blk + 4) >> j) & 1) << 4;
}
