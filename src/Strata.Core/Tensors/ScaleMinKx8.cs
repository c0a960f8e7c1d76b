using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>
/// What the interleaved Q4_K and Q5_K layouts share (<see cref="Q4_Kx8"/>, <see cref="Q5_Kx8"/>): the first 1152 bytes
/// of a group's super-block (d, dmin, the 12 scale bytes, the low nibbles), their 6-bit scales and mins unpacked for 8
/// rows at once, and the loop that multiplies 1 or 4 tokens against a group.
/// </summary>
internal static unsafe class ScaleMinKx8
{
    /// <summary>Places a plain block's d, dmin, 12 scale bytes and 128 nibble bytes as row <paramref name="r"/> of the group's block.</summary>
    public static void PlaceCommon(ReadOnlySpan<byte> i, Span<byte> o, int r, int dminOffset, int scalesOffset, int qsOffset)
    {
        i[..2].CopyTo(o.Slice(2 * r, 2));
        i.Slice(dminOffset, 2).CopyTo(o.Slice(16 + 2 * r, 2));
        for (int k = 0; k < 3; k++) i.Slice(scalesOffset + 4 * k, 4).CopyTo(o.Slice(32 + 32 * k + 4 * r, 4));
        for (int c = 0; c < 4; c++)
            for (int t = 0; t < 8; t++)
                i.Slice(qsOffset + 32 * c + 4 * t, 4).CopyTo(o.Slice(128 + 256 * c + 32 * t + 4 * r, 4));
    }

    /// <summary>
    /// ggml's get_scale_min_k4 for all 8 rows at once: lane r of <c>Lo</c>/<c>Hi</c> holds row r's scales 0..3 / 4..7,
    /// of <c>MinLo</c>/<c>MinHi</c> its mins 0..3 / 4..7, one per byte.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector256<uint> Lo, Vector256<uint> Hi, Vector256<byte> MinLo, Vector256<byte> MinHi) Scales(byte* blk)
    {
        var u0 = Vector256.Load((uint*)(blk + 32));
        var u1 = Vector256.Load((uint*)(blk + 64));
        var u2 = Vector256.Load((uint*)(blk + 96));
        var low6 = Vector256.Create(0x3f3f3f3fu);
        var low4 = Vector256.Create(0x0f0f0f0fu);
        var low2 = Vector256.Create(0x03030303u);
        return (u0 & low6,
                (u2 & low4) | (((u0 >> 6) & low2) << 4),
                (u1 & low6).AsByte(),
                (((u2 >> 4) & low4) | (((u1 >> 6) & low2) << 4)).AsByte());
    }

    /// <summary>Q4_K's quants are the nibbles alone; Q5_K adds a fifth bit from its qh bytes.</summary>
    public interface IFifthBit
    {
        static abstract bool Present { get; }
    }

    public struct NoFifthBit : IFifthBit { public static bool Present => false; }

    public struct FifthBit : IFifthBit { public static bool Present => true; }

    /// <summary>The fifth bit of each byte's element as 0x10: bit <paramref name="bit"/> of qh moved to bit 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Fifth(Vector256<ushort> qh, int bit) =>
        (bit <= 4 ? qh << (4 - bit) : qh >> (bit - 4)).AsByte() & Vector256.Create((byte)0x10);

    /// <summary>
    /// dots[8t + r] for <paramref name="tokens"/> prepared rows (1 or <see cref="Interleaved8Kernel.Tile"/>), each
    /// <paramref name="pb"/> bytes apart. The group's bytes are decoded once per step for every token; per token and
    /// sub-block an exact int32 dot per row lane, times the row's scale (vpmulld), summed per super-block; the mins
    /// against the activation sums; then d·xd and dmin·xd in float (ggml's vec_dot_q4_K/q5_K_q8_K, 8 rows at once).
    /// The fifth bits (Q5_K) sit at byte 1152 of the group's block, as [step t][row r][4 bytes].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TDot, TBits>(byte* g, int groupBlockBytes, byte* x, long pb, int tokens, int cols, float* dots)
        where TDot : struct, IByteDot where TBits : struct, IFifthBit
    {
        var L = new Q8KLayout(cols);
        var nibble = Vector256.Create((byte)0x0F);
        var low8 = Vector256.Create(0xFFu);
        // Read once: in AggressiveOptimization code a static field is reached through a helper call, and a call in
        // the loop makes the JIT save the accumulators around it.
        Vector256<byte> min01 = Q4_Kx8Kernel.Min01, min23 = Q4_Kx8Kernel.Min23;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = g + b * groupBlockBytes;
            var (scLo, scHi, mnLo, mnHi) = Scales(blk);
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
                    var lo = v & nibble;
                    var hi = (v.AsUInt16() >> 4).AsByte() & nibble;
                    if (TBits.Present)
                    {
                        var bits = Vector256.Load(qh + 32 * t).AsUInt16();
                        lo |= Fifth(bits, 2 * c);
                        hi |= Fifth(bits, 2 * c + 1);
                    }
                    int ol = o + 64 * c + 4 * t, oh = ol + 32;
                    l0 = Add<TDot, TBits>(l0, lo, Vector256.Create(*(int*)(x + ol)).AsSByte());
                    h0 = Add<TDot, TBits>(h0, hi, Vector256.Create(*(int*)(x + oh)).AsSByte());
                    if (tokens > 1)
                    {
                        l1 = Add<TDot, TBits>(l1, lo, Vector256.Create(*(int*)(x + pb + ol)).AsSByte());
                        h1 = Add<TDot, TBits>(h1, hi, Vector256.Create(*(int*)(x + pb + oh)).AsSByte());
                        l2 = Add<TDot, TBits>(l2, lo, Vector256.Create(*(int*)(x + 2 * pb + ol)).AsSByte());
                        h2 = Add<TDot, TBits>(h2, hi, Vector256.Create(*(int*)(x + 2 * pb + oh)).AsSByte());
                        l3 = Add<TDot, TBits>(l3, lo, Vector256.Create(*(int*)(x + 3 * pb + ol)).AsSByte());
                        h3 = Add<TDot, TBits>(h3, hi, Vector256.Create(*(int*)(x + 3 * pb + oh)).AsSByte());
                    }
                }
                // Sub-blocks 2c and 2c+1: their scales are bytes (2c)%4 and (2c+1)%4 of the low or high scale word.
                var sc = c < 2 ? scLo : scHi;
                int shift = 16 * (c & 1);
                var sa = ((sc >> shift) & low8).AsInt32();
                var sb = ((sc >> (shift + 8)) & low8).AsInt32();
                s0 += Scaled<TDot, TBits>(l0, sa) + Scaled<TDot, TBits>(h0, sb);
                if (tokens > 1)
                {
                    s1 += Scaled<TDot, TBits>(l1, sa) + Scaled<TDot, TBits>(h1, sb);
                    s2 += Scaled<TDot, TBits>(l2, sa) + Scaled<TDot, TBits>(h2, sb);
                    s3 += Scaled<TDot, TBits>(l3, sa) + Scaled<TDot, TBits>(h3, sb);
                }
            }
            var d = HalfBits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)blk).ToVector256Unsafe()));
            var dmin = HalfBits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)(blk + 16)).ToVector256Unsafe()));
            var m01 = Avx2.Shuffle(mnLo, min01).AsInt16();
            var m23 = Avx2.Shuffle(mnLo, min23).AsInt16();
            var m45 = Avx2.Shuffle(mnHi, min01).AsInt16();
            var m67 = Avx2.Shuffle(mnHi, min23).AsInt16();
            a0 = Finish(a0, s0, x, L, b, d, dmin, m01, m23, m45, m67);
            if (tokens > 1)
            {
                a1 = Finish(a1, s1, x + pb, L, b, d, dmin, m01, m23, m45, m67);
                a2 = Finish(a2, s2, x + 2 * pb, L, b, d, dmin, m01, m23, m45, m67);
                a3 = Finish(a3, s3, x + 3 * pb, L, b, d, dmin, m01, m23, m45, m67);
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

    /// <summary>
    /// <see cref="Run"/> for 8 tokens (machines whose JIT has 32 vector registers): the group's bytes decoded once per
    /// step for all 8, the same integer sums and float steps per token as 4-token tiles give; the float sums wait in
    /// <paramref name="dots"/> between super-blocks, leaving the registers to the 24 integer accumulators.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    public static void Run8<TDot, TBits>(byte* g, int groupBlockBytes, byte* x, long pb, int cols, float* dots)
        where TDot : struct, IByteDot where TBits : struct, IFifthBit
    {
        var L = new Q8KLayout(cols);
        var nibble = Vector256.Create((byte)0x0F);
        var low8 = Vector256.Create(0xFFu);
        for (int i = 0; i < 64; i++) dots[i] = 0;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = g + b * groupBlockBytes;
            var (scLo, scHi, mnLo, mnHi) = Scales(blk);
            int o = 256 * b;
            byte* qs = blk + 128;
            byte* qh = blk + 1152;
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
            for (int c = 0; c < 4; c++)
            {
                Vector256<int> l0 = default, l1 = default, l2 = default, l3 = default, l4 = default, l5 = default, l6 = default, l7 = default;
                Vector256<int> h0 = default, h1 = default, h2 = default, h3 = default, h4 = default, h5 = default, h6 = default, h7 = default;
                for (int t = 0; t < 8; t++)
                {
                    var v = Vector256.Load(qs + 256 * c + 32 * t);
                    var lo = v & nibble;
                    var hi = (v.AsUInt16() >> 4).AsByte() & nibble;
                    if (TBits.Present)
                    {
                        var bits = Vector256.Load(qh + 32 * t).AsUInt16();
                        lo |= Fifth(bits, 2 * c);
                        hi |= Fifth(bits, 2 * c + 1);
                    }
                    byte* xl = x + o + 64 * c + 4 * t;
                    l0 = Add<TDot, TBits>(l0, lo, Vector256.Create(*(int*)xl).AsSByte());
                    h0 = Add<TDot, TBits>(h0, hi, Vector256.Create(*(int*)(xl + 32)).AsSByte());
                    l1 = Add<TDot, TBits>(l1, lo, Vector256.Create(*(int*)(xl + pb)).AsSByte());
                    h1 = Add<TDot, TBits>(h1, hi, Vector256.Create(*(int*)(xl + pb + 32)).AsSByte());
                    l2 = Add<TDot, TBits>(l2, lo, Vector256.Create(*(int*)(xl + 2 * pb)).AsSByte());
                    h2 = Add<TDot, TBits>(h2, hi, Vector256.Create(*(int*)(xl + 2 * pb + 32)).AsSByte());
                    l3 = Add<TDot, TBits>(l3, lo, Vector256.Create(*(int*)(xl + 3 * pb)).AsSByte());
                    h3 = Add<TDot, TBits>(h3, hi, Vector256.Create(*(int*)(xl + 3 * pb + 32)).AsSByte());
                    l4 = Add<TDot, TBits>(l4, lo, Vector256.Create(*(int*)(xl + 4 * pb)).AsSByte());
                    h4 = Add<TDot, TBits>(h4, hi, Vector256.Create(*(int*)(xl + 4 * pb + 32)).AsSByte());
                    l5 = Add<TDot, TBits>(l5, lo, Vector256.Create(*(int*)(xl + 5 * pb)).AsSByte());
                    h5 = Add<TDot, TBits>(h5, hi, Vector256.Create(*(int*)(xl + 5 * pb + 32)).AsSByte());
                    l6 = Add<TDot, TBits>(l6, lo, Vector256.Create(*(int*)(xl + 6 * pb)).AsSByte());
                    h6 = Add<TDot, TBits>(h6, hi, Vector256.Create(*(int*)(xl + 6 * pb + 32)).AsSByte());
                    l7 = Add<TDot, TBits>(l7, lo, Vector256.Create(*(int*)(xl + 7 * pb)).AsSByte());
                    h7 = Add<TDot, TBits>(h7, hi, Vector256.Create(*(int*)(xl + 7 * pb + 32)).AsSByte());
                }
                var sc = c < 2 ? scLo : scHi;
                int shift = 16 * (c & 1);
                var sa = ((sc >> shift) & low8).AsInt32();
                var sb = ((sc >> (shift + 8)) & low8).AsInt32();
                s0 += Scaled<TDot, TBits>(l0, sa) + Scaled<TDot, TBits>(h0, sb);
                s1 += Scaled<TDot, TBits>(l1, sa) + Scaled<TDot, TBits>(h1, sb);
                s2 += Scaled<TDot, TBits>(l2, sa) + Scaled<TDot, TBits>(h2, sb);
                s3 += Scaled<TDot, TBits>(l3, sa) + Scaled<TDot, TBits>(h3, sb);
                s4 += Scaled<TDot, TBits>(l4, sa) + Scaled<TDot, TBits>(h4, sb);
                s5 += Scaled<TDot, TBits>(l5, sa) + Scaled<TDot, TBits>(h5, sb);
                s6 += Scaled<TDot, TBits>(l6, sa) + Scaled<TDot, TBits>(h6, sb);
                s7 += Scaled<TDot, TBits>(l7, sa) + Scaled<TDot, TBits>(h7, sb);
            }
            var d = HalfBits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)blk).ToVector256Unsafe()));
            var dmin = HalfBits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)(blk + 16)).ToVector256Unsafe()));
            var m01 = Avx2.Shuffle(mnLo, Q4_Kx8Kernel.Min01).AsInt16();
            var m23 = Avx2.Shuffle(mnLo, Q4_Kx8Kernel.Min23).AsInt16();
            var m45 = Avx2.Shuffle(mnHi, Q4_Kx8Kernel.Min01).AsInt16();
            var m67 = Avx2.Shuffle(mnHi, Q4_Kx8Kernel.Min23).AsInt16();
            Finish(Vector256.Load(dots), s0, x, L, b, d, dmin, m01, m23, m45, m67).Store(dots);
            Finish(Vector256.Load(dots + 8), s1, x + pb, L, b, d, dmin, m01, m23, m45, m67).Store(dots + 8);
            Finish(Vector256.Load(dots + 16), s2, x + 2 * pb, L, b, d, dmin, m01, m23, m45, m67).Store(dots + 16);
            Finish(Vector256.Load(dots + 24), s3, x + 3 * pb, L, b, d, dmin, m01, m23, m45, m67).Store(dots + 24);
            Finish(Vector256.Load(dots + 32), s4, x + 4 * pb, L, b, d, dmin, m01, m23, m45, m67).Store(dots + 32);
            Finish(Vector256.Load(dots + 40), s5, x + 5 * pb, L, b, d, dmin, m01, m23, m45, m67).Store(dots + 40);
            Finish(Vector256.Load(dots + 48), s6, x + 6 * pb, L, b, d, dmin, m01, m23, m45, m67).Store(dots + 48);
            Finish(Vector256.Load(dots + 56), s7, x + 7 * pb, L, b, d, dmin, m01, m23, m45, m67).Store(dots + 56);
        }
    }

    /// <summary>
    /// <see cref="Run"/> for one token of Q5_K (decode), with each chunk's fifth-bit shifts as constants: in the shared
    /// loop the chunk number is a variable, and every step paid for a branch and a shift by a register count.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RunOneFifth<TDot>(byte* g, int groupBlockBytes, byte* x, int cols, float* dots) where TDot : struct, IByteDot
    {
        var L = new Q8KLayout(cols);
        var acc = Vector256<float>.Zero;
        byte* blk = g;
        for (int b = 0; b < L.Blocks; b++, blk += groupBlockBytes)
        {
            Interleave8.PrefetchAhead(blk, groupBlockBytes);
            var (scLo, scHi, mnLo, mnHi) = Scales(blk);
            byte* xb = x + 256 * b;
            var s0 = ChunkOneFifth<TDot>(0, blk, xb, scLo) + ChunkOneFifth<TDot>(1, blk, xb, scLo)
                   + ChunkOneFifth<TDot>(2, blk, xb, scHi) + ChunkOneFifth<TDot>(3, blk, xb, scHi);
            var d = HalfBits.ToSingleFinite((ushort*)blk);
            var dmin = HalfBits.ToSingleFinite((ushort*)(blk + 16));
            acc = Finish(acc, s0, x, L, b, d, dmin, Avx2.Shuffle(mnLo, Q4_Kx8Kernel.Min01).AsInt16(), Avx2.Shuffle(mnLo, Q4_Kx8Kernel.Min23).AsInt16(),
                Avx2.Shuffle(mnHi, Q4_Kx8Kernel.Min01).AsInt16(), Avx2.Shuffle(mnHi, Q4_Kx8Kernel.Min23).AsInt16());
        }
        acc.Store(dots);
    }

    /// <summary>Chunk c (a constant at each call): sub-blocks 2c and 2c+1 of one token, scaled, as int32 row lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> ChunkOneFifth<TDot>(int c, byte* blk, byte* xb, Vector256<uint> sc) where TDot : struct, IByteDot
    {
        var nibble = Vector256.Create((byte)0x0F);
        Vector256<int> l = default, h = default;
        byte* q = blk + 128 + 256 * c, qh = blk + 1152, xc = xb + 64 * c;
        for (int t = 0; t < 8; t++, q += 32, qh += 32, xc += 4)
        {
            var v = Vector256.Load(q);
            var bits = Vector256.Load(qh).AsUInt16();
            var lo = (v & nibble) | Fifth(bits, 2 * c);
            var hi = ((v.AsUInt16() >> 4).AsByte() & nibble) | Fifth(bits, 2 * c + 1);
            l = TDot.Add(l, lo, Avx2.BroadcastScalarToVector256((int*)xc).AsSByte());
            h = TDot.Add(h, hi, Avx2.BroadcastScalarToVector256((int*)(xc + 32)).AsSByte());
        }
        // Their scales are bytes (2c)%4 and (2c+1)%4 of the low (c < 2) or high scale word.
        int shift = 16 * (c & 1);
        var low8 = Vector256.Create(0xFFu);
        return Avx2.MultiplyLow(l, ((sc >> shift) & low8).AsInt32()) + Avx2.MultiplyLow(h, ((sc >> (shift + 8)) & low8).AsInt32());
    }

    /// <summary>
    /// One step of a sub-block. 4-bit quants keep the pair sums narrow (8 steps · 2·15·128 fit int16); 5-bit ones
    /// would not (8 · 2·31·128), and widen every step. (Flushing those every 4 steps measured slower on Zen 4.)
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Add<TDot, TBits>(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s) where TDot : struct, IByteDot where TBits : struct, IFifthBit =>
        TBits.Present ? TDot.Add(acc, u, s) : TDot.AddNarrow(acc, u, s);

    /// <summary>A sub-block's int32 dot times its scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Scaled<TDot, TBits>(Vector256<int> acc, Vector256<int> scale) where TDot : struct, IByteDot where TBits : struct, IFifthBit =>
        TBits.Present ? Avx2.MultiplyLow(acc, scale) : TDot.WidenScaled(acc, scale);

    /// <summary>One token's super-block: acc + d·xd·Σ scale·dot − dmin·xd·Σ min·bsum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Finish(Vector256<float> acc, Vector256<int> sumi, byte* x, Q8KLayout L, int b, Vector256<float> d, Vector256<float> dmin,
        Vector256<short> m01, Vector256<short> m23, Vector256<short> m45, Vector256<short> m67)
    {
        // The activation sums of sub-blocks 0..7 (each two 16-element bsums, |Σ| ≤ 4096) as int16, then each pair
        // (2i, 2i+1) broadcast as one int32 lane: 32-bit lane k of the pack holds pair k for k < 2, pair k−2 for 4 ≤ k < 6.
        var sub = Avx2.MultiplyAddAdjacent(Vector256.Load((short*)(x + L.BsumOff) + 16 * b), Vector256<short>.One);
        var packed = Avx2.PackSignedSaturate(sub, sub).AsInt32();
        var mins = Avx2.MultiplyAddAdjacent(m01, Avx2.PermuteVar8x32(packed, Vector256.Create(0)).AsInt16())
                 + Avx2.MultiplyAddAdjacent(m23, Avx2.PermuteVar8x32(packed, Vector256.Create(1)).AsInt16())
                 + Avx2.MultiplyAddAdjacent(m45, Avx2.PermuteVar8x32(packed, Vector256.Create(4)).AsInt16())
                 + Avx2.MultiplyAddAdjacent(m67, Avx2.PermuteVar8x32(packed, Vector256.Create(5)).AsInt16());
        var xd = Avx.BroadcastScalarToVector256((float*)(x + L.DOff) + b);
        acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sumi), d * xd, acc);
        return Vector256.FusedMultiplyAdd(-Vector256.ConvertToSingle(mins), dmin * xd, acc);
    }
}
