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
                // Sub-blocks 2c and 2c+1: their scales are bytes (2c)%4 and (2c+1)%4 of the low or high scale word.
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
            FinishBlock(blk, mnLo, mnHi, x, pb, tokens, L, b, s0, s1, s2, s3, ref a0, ref a1, ref a2, ref a3);
        }
        Store(dots, tokens, a0, a1, a2, a3);
    }

    /// <summary>
    /// <see cref="Run{TDot, TBits}"/> without VNNI: byte pair sums (vpmaddubsw) are added in int16 — 8 steps of a
    /// sub-block for 4-bit quants (8·2·15·128 fits), 4 for 5-bit ones (4·2·31·128) — and then multiplied by the
    /// sub-block's scale while widening to int32 (one vpmaddwd), instead of widening every step and multiplying by
    /// the scale with vpmulld. Integer sums, so the result is the same. Used for Q4_K: for Q5_K (flushing every 4
    /// steps) it measured slower than <see cref="Run{TDot, TBits}"/> on Zen 4 (130 against 201 GFLOP/s batched).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RunPairs<TBits>(byte* g, int groupBlockBytes, byte* x, long pb, int tokens, int cols, float* dots)
        where TBits : struct, IFifthBit
    {
        var L = new Q8KLayout(cols);
        var nibble = Vector256.Create((byte)0x0F);
        var low8 = Vector256.Create(0xFFu);
        int flush = TBits.Present ? 4 : 8;
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
                var sc = c < 2 ? scLo : scHi;
                int shift = 16 * (c & 1);
                var sa = (sc >> shift) & low8;
                var sb = (sc >> (shift + 8)) & low8;
                // each int32 lane's two int16 halves both carry the row's scale
                var sa16 = (sa | (sa << 16)).AsInt16();
                var sb16 = (sb | (sb << 16)).AsInt16();
                for (int t0 = 0; t0 < 8; t0 += flush)
                {
                    Vector256<short> l0 = default, l1 = default, l2 = default, l3 = default;
                    Vector256<short> h0 = default, h1 = default, h2 = default, h3 = default;
                    for (int t = t0; t < t0 + flush; t++)
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
                        l0 += Avx2.MultiplyAddAdjacent(lo, Vector256.Create(*(int*)(x + ol)).AsSByte());
                        h0 += Avx2.MultiplyAddAdjacent(hi, Vector256.Create(*(int*)(x + oh)).AsSByte());
                        if (tokens > 1)
                        {
                            l1 += Avx2.MultiplyAddAdjacent(lo, Vector256.Create(*(int*)(x + pb + ol)).AsSByte());
                            h1 += Avx2.MultiplyAddAdjacent(hi, Vector256.Create(*(int*)(x + pb + oh)).AsSByte());
                            l2 += Avx2.MultiplyAddAdjacent(lo, Vector256.Create(*(int*)(x + 2 * pb + ol)).AsSByte());
                            h2 += Avx2.MultiplyAddAdjacent(hi, Vector256.Create(*(int*)(x + 2 * pb + oh)).AsSByte());
                            l3 += Avx2.MultiplyAddAdjacent(lo, Vector256.Create(*(int*)(x + 3 * pb + ol)).AsSByte());
                            h3 += Avx2.MultiplyAddAdjacent(hi, Vector256.Create(*(int*)(x + 3 * pb + oh)).AsSByte());
                        }
                    }
                    s0 += Avx2.MultiplyAddAdjacent(l0, sa16) + Avx2.MultiplyAddAdjacent(h0, sb16);
                    if (tokens > 1)
                    {
                        s1 += Avx2.MultiplyAddAdjacent(l1, sa16) + Avx2.MultiplyAddAdjacent(h1, sb16);
                        s2 += Avx2.MultiplyAddAdjacent(l2, sa16) + Avx2.MultiplyAddAdjacent(h2, sb16);
                        s3 += Avx2.MultiplyAddAdjacent(l3, sa16) + Avx2.MultiplyAddAdjacent(h3, sb16);
                    }
                }
            }
            FinishBlock(blk, mnLo, mnHi, x, pb, tokens, L, b, s0, s1, s2, s3, ref a0, ref a1, ref a2, ref a3);
        }
        Store(dots, tokens, a0, a1, a2, a3);
    }

    /// <summary>A super-block's end for each token: its scales d and dmin, its mins against the activation sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FinishBlock(byte* blk, Vector256<byte> mnLo, Vector256<byte> mnHi, byte* x, long pb, int tokens, Q8KLayout L, int b,
        Vector256<int> s0, Vector256<int> s1, Vector256<int> s2, Vector256<int> s3,
        ref Vector256<float> a0, ref Vector256<float> a1, ref Vector256<float> a2, ref Vector256<float> a3)
    {
        var d = HalfBits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)blk).ToVector256Unsafe()));
        var dmin = HalfBits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)(blk + 16)).ToVector256Unsafe()));
        var m01 = Avx2.Shuffle(mnLo, Q4_Kx8Kernel.Min01).AsInt16();
        var m23 = Avx2.Shuffle(mnLo, Q4_Kx8Kernel.Min23).AsInt16();
        var m45 = Avx2.Shuffle(mnHi, Q4_Kx8Kernel.Min01).AsInt16();
        var m67 = Avx2.Shuffle(mnHi, Q4_Kx8Kernel.Min23).AsInt16();
        a0 = Finish(a0, s0, x, L, b, d, dmin, m01, m23, m45, m67);
        if (tokens > 1)
        {
            a1 = Finish(a1, s1, x + pb, L, b, d, dmin, m01, m23, m45, m67);
            a2 = Finish(a2, s2, x + 2 * pb, L, b, d, dmin, m01, m23, m45, m67);
            a3 = Finish(a3, s3, x + 3 * pb, L, b, d, dmin, m01, m23, m45, m67);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* dots, int tokens, Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3)
    {
        a0.Store(dots);
        if (tokens <= 1) return;
        a1.Store(dots + 8);
        a2.Store(dots + 16);
        a3.Store(dots + 24);
    }

    /// <summary>One token's super-block: acc + d·xd·Σ scale·dot − dmin·xd·Σ min·bsum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Finish(Vector256<float> acc, Vector256<int> sumi, byte* x, Q8KLayout L, int b, Vector256<float> d, Vector256<float> dmin,
        Vector256<short> m01, Vector256<short> m23, Vector256<short> m45, Vector256<short> m67)
    {
        short* bs = (short*)(x + L.BsumOff) + 16 * b;
        var mins = Avx2.MultiplyAddAdjacent(m01, PairSums(bs, 0)) + Avx2.MultiplyAddAdjacent(m23, PairSums(bs, 1))
                 + Avx2.MultiplyAddAdjacent(m45, PairSums(bs, 2)) + Avx2.MultiplyAddAdjacent(m67, PairSums(bs, 3));
        var xd = Vector256.Create(((float*)(x + L.DOff))[b]);
        acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sumi), d * xd, acc);
        return Vector256.FusedMultiplyAdd(-Vector256.ConvertToSingle(mins), dmin * xd, acc);
    }

    /// <summary>(sum of x over sub-block 2i, over sub-block 2i+1) as an int16 pair in every 32-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> PairSums(short* bs, int i)
    {
        int a = bs[4 * i] + bs[4 * i + 1], c = bs[4 * i + 2] + bs[4 * i + 3];
        return Vector256.Create((a & 0xFFFF) | (c << 16)).AsInt16();
    }
}
