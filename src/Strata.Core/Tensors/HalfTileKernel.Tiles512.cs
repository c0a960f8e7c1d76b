using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

internal sealed unsafe partial class HalfTileKernel<TF> where TF : struct, ITileFormat
{
    /// <summary>AVX-512: 16 halves per step.</summary>
    internal sealed class Tiles512 : TileDriver
    {
        /// <summary>Elements past which a row is a long stream, which one token asks ahead in (the down projection).</summary>
        private const int LongRow = 4096;
        /// <summary>
        /// One token over rows of up to <see cref="LongRow"/> asks for the rows two tiles on: a 2048-column row is one
        /// 4 KiB page, where Intel's L2 streamer stops, so each tile is four streams it must find again. On a Xeon
        /// (Emerald Rapids) row-at-a-time tiles without it read 12 GB/s in gate/up (F16 decode 6.3-7.2 tok/s), 4-row
        /// tiles asking 4-8 rows on 9.4-11.0 tok/s, 12-24 rows on 9.6-10.0.
        /// </summary>
        private const int PrefetchRowsAhead = 8;



        /// <summary>
        /// A batch of many tokens: the row range is widened to floats once, in pieces of WidenRowBytes
        /// (exactly, infinities and NaNs included, so nothing is checked), and the tokens run over the floats in
        /// blocks of WidenBlockBytes, weights and activations both in L2. The widening then costs one
        /// pass over the weights per call instead of one per 6 tokens. Sums keep the order of every other path: one
        /// vector accumulator per (row, token), lanes summed, the tail in sequence.
        /// </summary>
        private static void RunWidened(in Matrix m, int n, int rowStart, int rowEnd)
        {
            int cols = m.Cols, whole = cols / 16 * 16;
            int piece = Math.Max(TileRows, WidenRowBytes / (4 * cols) / TileRows * TileRows);
            float* wide = Wide((long)Math.Min(piece, rowEnd - rowStart) * cols);
            int block = Math.Max(TileTokens, WidenBlockBytes / (4 * cols) / TileTokens * TileTokens);
            float* dots = stackalloc float[TileRows * TileTokens];
            for (int p0 = rowStart; p0 < rowEnd; p0 += piece)
            {
                int p1 = Math.Min(rowEnd, p0 + piece);
                for (int r = p0; r < p1; r++)
                {
                    short* w = m.Row(r);
                    float* f = wide + (long)(r - p0) * cols;
                    for (int k = 0; k < whole; k += 16)
                        TF.Exact(Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)w + k))).Store(f + k);
                }
                for (int tb = 0; tb < n; tb += block)
                {
                    int te = Math.Min(n, tb + block);
                    for (int r = p0; r < p1; r += TileRows)
                    {
                        int tr = Math.Min(TileRows, p1 - r);
                        float* wr = wide + (long)(r - p0) * cols;
                        for (int t = tb; t < te; t += TileTokens)
                        {
                            int tn = Math.Min(TileTokens, te - t);
                            if (tr == TileRows) WideTile4(m, wr, cols, t, tn, dots);
                            else
                                for (int i = 0; i < tr; i++) WideTile1(m, wr + (long)i * cols, cols, t, tn, dots + i * TileTokens);
                            for (int i = 0; i < tr; i++)
                            {
                                short* w = m.Row(r + i);
                                for (int j = 0; j < tn; j++)
                                {
                                    float d = dots[i * TileTokens + j];
                                    m.Set(r + i, t + j, whole < cols ? Tail(d, w, m.X(t + j), whole, cols) : d);
                                }
                            }
                        }
                    }
                }
            }
        }

        private static void WideTile4(in Matrix m, float* w, int cols, int t, int tn, float* dots)
        {
            switch (tn)
            {
                case 6: WideTile4<N6>(m, w, cols, t, dots); break;
                case 5: WideTile4<N5>(m, w, cols, t, dots); break;
                case 4: WideTile4<N4>(m, w, cols, t, dots); break;
                case 3: WideTile4<N3>(m, w, cols, t, dots); break;
                case 2: WideTile4<N2>(m, w, cols, t, dots); break;
                default: WideTile4<N1>(m, w, cols, t, dots); break;
            }
        }

        private static void WideTile1(in Matrix m, float* w, int cols, int t, int tn, float* dots)
        {
            for (int j = 0; j < tn; j++)
            {
                float* x = m.X(t + j);
                var acc = Vector512<float>.Zero;
                for (int k = 0; k + 16 <= cols; k += 16) acc = Vector512.FusedMultiplyAdd(Vector512.Load(w + k), Vector512.Load(x + k), acc);
                dots[j] = Vector512.Sum(acc);
            }
        }

        /// <summary>dots[i*6 + j] = widened row i · token t+j over the whole vectors of the row, for 4 rows and TN tokens.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void WideTile4<TN>(in Matrix m, float* w, int cols, int t, float* dots) where TN : struct, ICount
        {
            float* w0 = w, w1 = w + cols, w2 = w + 2L * cols, w3 = w + 3L * cols;
            float* x0 = m.X(t);
            float* x1 = TN.N > 1 ? m.X(t + 1) : x0, x2 = TN.N > 2 ? m.X(t + 2) : x0;
            float* x3 = TN.N > 3 ? m.X(t + 3) : x0, x4 = TN.N > 4 ? m.X(t + 4) : x0, x5 = TN.N > 5 ? m.X(t + 5) : x0;
            Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default, a04 = default, a05 = default;
            Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default, a14 = default, a15 = default;
            Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default, a24 = default, a25 = default;
            Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default, a34 = default, a35 = default;
            for (int i = 0; i + 16 <= cols; i += 16)
            {
                var v0 = Vector512.Load(w0 + i); var v1 = Vector512.Load(w1 + i); var v2 = Vector512.Load(w2 + i); var v3 = Vector512.Load(w3 + i);
                var x = Vector512.Load(x0 + i);
                a00 = Vector512.FusedMultiplyAdd(v0, x, a00); a10 = Vector512.FusedMultiplyAdd(v1, x, a10);
                a20 = Vector512.FusedMultiplyAdd(v2, x, a20); a30 = Vector512.FusedMultiplyAdd(v3, x, a30);
                if (TN.N > 1)
                {
                    x = Vector512.Load(x1 + i);
                    a01 = Vector512.FusedMultiplyAdd(v0, x, a01); a11 = Vector512.FusedMultiplyAdd(v1, x, a11);
                    a21 = Vector512.FusedMultiplyAdd(v2, x, a21); a31 = Vector512.FusedMultiplyAdd(v3, x, a31);
                }
                if (TN.N > 2)
                {
                    x = Vector512.Load(x2 + i);
                    a02 = Vector512.FusedMultiplyAdd(v0, x, a02); a12 = Vector512.FusedMultiplyAdd(v1, x, a12);
                    a22 = Vector512.FusedMultiplyAdd(v2, x, a22); a32 = Vector512.FusedMultiplyAdd(v3, x, a32);
                }
                if (TN.N > 3)
                {
                    x = Vector512.Load(x3 + i);
                    a03 = Vector512.FusedMultiplyAdd(v0, x, a03); a13 = Vector512.FusedMultiplyAdd(v1, x, a13);
                    a23 = Vector512.FusedMultiplyAdd(v2, x, a23); a33 = Vector512.FusedMultiplyAdd(v3, x, a33);
                }
                if (TN.N > 4)
                {
                    x = Vector512.Load(x4 + i);
                    a04 = Vector512.FusedMultiplyAdd(v0, x, a04); a14 = Vector512.FusedMultiplyAdd(v1, x, a14);
                    a24 = Vector512.FusedMultiplyAdd(v2, x, a24); a34 = Vector512.FusedMultiplyAdd(v3, x, a34);
                }
                if (TN.N > 5)
                {
                    x = Vector512.Load(x5 + i);
                    a05 = Vector512.FusedMultiplyAdd(v0, x, a05); a15 = Vector512.FusedMultiplyAdd(v1, x, a15);
                    a25 = Vector512.FusedMultiplyAdd(v2, x, a25); a35 = Vector512.FusedMultiplyAdd(v3, x, a35);
                }
            }
            Sums(dots, a00, a01, a02, a03, a04, a05, TN.N);
            Sums(dots + 6, a10, a11, a12, a13, a14, a15, TN.N);
            Sums(dots + 12, a20, a21, a22, a23, a24, a25, TN.N);
            Sums(dots + 18, a30, a31, a32, a33, a34, a35, TN.N);
        }

        public static void Run(in Matrix m, int n, int rowStart, int rowEnd, bool check)
        {
            if (n >= WidenOnceTokens)
            {
                RunWidened(m, n, rowStart, rowEnd);
                return;
            }
            int rows = rowEnd - rowStart;
            var special = SpecialFlags(rows);
            // Tokens in blocks of about as many bytes as the row chunk, so both stay in L2 while tiles cross them.
            int block = Math.Max(TileTokens, 128 * 1024 / (4 * m.Cols) / TileTokens * TileTokens);
            float* dots = stackalloc float[TileRows * TileTokens];
            for (int tb = 0; tb < n; tb += block)
            {
                int te = Math.Min(n, tb + block);
                for (int r = rowStart; r < rowEnd; r += TileRows)
                {
                    int tr = Math.Min(TileRows, rowEnd - r);
                    ref bool sp = ref special[r - rowStart];
                    for (int t = tb; t < te; t += TileTokens)
                    {
                        int tn = Math.Min(TileTokens, te - t);
                        bool first = check && t == 0;
                        if (t == 0) sp = false;
                        if (sp)
                        {
                            Exact(m, r, tr, t, tn);
                            continue;
                        }
                        // Four rows side by side even for one token: four FMA chains, with the rows asked for ahead
                        // (PrefetchRowsAhead, or within the row for long rows).
                        bool found = tr == TileRows ? Tile4(m, r, t, tn, first, dots) : Tile1s(m, r, tr, t, tn, first, dots);
                        if (found)
                        {
                            sp = true;
                            Exact(m, r, tr, t, tn);
                            continue;
                        }
                        for (int i = 0; i < tr; i++)
                            for (int j = 0; j < tn; j++) m.Set(r + i, t + j, dots[i * TileTokens + j]);
                    }
                }
            }
        }

        private static bool Tile4(in Matrix m, int r, int t, int tn, bool check, float* dots) => (tn, check) switch
        {
            (6, false) => Tile4<N6, NoCheck>(m, r, t, dots),
            (6, true) => Tile4<N6, Check>(m, r, t, dots),
            (5, false) => Tile4<N5, NoCheck>(m, r, t, dots),
            (5, true) => Tile4<N5, Check>(m, r, t, dots),
            (4, false) => Tile4<N4, NoCheck>(m, r, t, dots),
            (4, true) => Tile4<N4, Check>(m, r, t, dots),
            (3, false) => Tile4<N3, NoCheck>(m, r, t, dots),
            (3, true) => Tile4<N3, Check>(m, r, t, dots),
            (2, false) => Tile4<N2, NoCheck>(m, r, t, dots),
            (2, true) => Tile4<N2, Check>(m, r, t, dots),
            (_, false) => Tile4<N1, NoCheck>(m, r, t, dots),
            (_, true) => Tile4<N1, Check>(m, r, t, dots),
        };

        /// <summary>Fewer than 4 rows: one row at a time.</summary>
        private static bool Tile1s(in Matrix m, int r, int tr, int t, int tn, bool check, float* dots)
        {
            bool found = false;
            for (int i = 0; i < tr; i++)
            {
                float* d = dots + i * TileTokens;
                found |= check ? Tile1<Check>(m, r + i, t, tn, d) : Tile1<NoCheck>(m, r + i, t, tn, d);
            }
            return found;
        }

        private static bool Tile1<TC>(in Matrix m, int r, int t, int tn, float* d) where TC : struct, ICheck => tn switch
        {
            6 => Tile1<N6, TC>(m, r, t, d),
            5 => Tile1<N5, TC>(m, r, t, d),
            4 => Tile1<N4, TC>(m, r, t, d),
            3 => Tile1<N3, TC>(m, r, t, d),
            2 => Tile1<N2, TC>(m, r, t, d),
            _ => Tile1<N1, TC>(m, r, t, d),
        };

        /// <summary>The exact widening in the same order, for rows that hold infinities or NaNs.</summary>
        private static void Exact(in Matrix m, int r, int tr, int t, int tn)
        {
            for (int i = 0; i < tr; i++)
                for (int j = 0; j < tn; j++)
                {
                    short* w = m.Row(r + i);
                    float* x = m.X(t + j);
                    var acc = Vector512<float>.Zero;
                    int k = 0;
                    for (; k + 16 <= m.Cols; k += 16)
                    {
                        var h = Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)w + k));
                        acc = Vector512.FusedMultiplyAdd(TF.Exact(h), Vector512.Load(x + k), acc);
                    }
                    m.Set(r + i, t + j, Tail(Vector512.Sum(acc), w, x, k, m.Cols));
                }
        }

        /// <summary>The exponent field of each weight (all ones = infinity or NaN), for a running maximum.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector512<int> Exponent(Vector512<int> bits) => bits & Vector512.Create(0x0f800000);

        private const int AllOnes = 0x0f800000;

        /// <summary>
        /// How far ahead (in halves: 3 KiB) one token's 4-row tile asks for its rows into L2. Four rows side by side
        /// are four streams the hardware prefetchers follow slowly; asking ahead took the down projection (2048 ×
        /// 8192) from 35-37 to 42-52 GB/s on 2 threads (Zen 4; 0.5-8 KiB ahead measured, 3-4 best).
        /// </summary>
        private const int PrefetchHalves = 1536;

        /// <summary>dots[i*6 + j] = row r+i · token t+j for 4 rows and TN tokens; true when a row holds an infinity or NaN.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static bool Tile4<TN, TC>(in Matrix m, int r, int t, float* dots) where TN : struct, ICount where TC : struct, ICheck
        {
            int cols = m.Cols;
            short* w0 = m.Row(r), w1 = m.Row(r + 1), w2 = m.Row(r + 2), w3 = m.Row(r + 3);
            float* x0 = m.X(t);
            float* x1 = TN.N > 1 ? m.X(t + 1) : x0, x2 = TN.N > 2 ? m.X(t + 2) : x0;
            float* x3 = TN.N > 3 ? m.X(t + 3) : x0, x4 = TN.N > 4 ? m.X(t + 4) : x0, x5 = TN.N > 5 ? m.X(t + 5) : x0;
            Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default, a04 = default, a05 = default;
            Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default, a14 = default, a15 = default;
            Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default, a24 = default, a25 = default;
            Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default, a34 = default, a35 = default;
            Vector512<int> e0 = default, e1 = default, e2 = default, e3 = default;
            long ahead = (TN.N == 1 ? PrefetchRowsAhead : TileRows) * (long)cols;
            int i = 0;
            for (; i + 16 <= cols; i += 16)
            {
                if (TN.N == 1 && cols > LongRow && (i & 31) == 0)
                {
                    // Once per cache line of each row; long rows (the down projection) are streams worth asking ahead in.
                    Sse.Prefetch1(w0 + i + PrefetchHalves); Sse.Prefetch1(w1 + i + PrefetchHalves);
                    Sse.Prefetch1(w2 + i + PrefetchHalves); Sse.Prefetch1(w3 + i + PrefetchHalves);
                }
                else if ((i & 31) == 0)
                {
                    // One token over short rows: the rows PrefetchRowsAhead on. Several tokens take 3-6x longer over
                    // a row than memory takes to bring it, but each 4-row tile starts four new streams the
                    // prefetchers pick up late: asking for the next tile's rows (4 rows on) while this one runs took an 8-token step's gate/up (8192 x 2048) from 110-113 to 131-155
                    // GFLOP/s on 2 threads (Zen 4) and `strata bench --batch 8` on F16 from 48 to 62-70 tok/s.
                    Sse.Prefetch1(w0 + i + ahead); Sse.Prefetch1(w1 + i + ahead);
                    Sse.Prefetch1(w2 + i + ahead); Sse.Prefetch1(w3 + i + ahead);
                }
                var b0 = TF.Bits(w0 + i); var b1 = TF.Bits(w1 + i); var b2 = TF.Bits(w2 + i); var b3 = TF.Bits(w3 + i);
                if (TC.On)
                {
                    e0 = Vector512.Max(e0, Exponent(b0)); e1 = Vector512.Max(e1, Exponent(b1));
                    e2 = Vector512.Max(e2, Exponent(b2)); e3 = Vector512.Max(e3, Exponent(b3));
                }
                var v0 = TF.Weight(b0); var v1 = TF.Weight(b1); var v2 = TF.Weight(b2); var v3 = TF.Weight(b3);
                var x = Vector512.Load(x0 + i);
                a00 = Vector512.FusedMultiplyAdd(v0, x, a00); a10 = Vector512.FusedMultiplyAdd(v1, x, a10);
                a20 = Vector512.FusedMultiplyAdd(v2, x, a20); a30 = Vector512.FusedMultiplyAdd(v3, x, a30);
                if (TN.N > 1)
                {
                    x = Vector512.Load(x1 + i);
                    a01 = Vector512.FusedMultiplyAdd(v0, x, a01); a11 = Vector512.FusedMultiplyAdd(v1, x, a11);
                    a21 = Vector512.FusedMultiplyAdd(v2, x, a21); a31 = Vector512.FusedMultiplyAdd(v3, x, a31);
                }
                if (TN.N > 2)
                {
                    x = Vector512.Load(x2 + i);
                    a02 = Vector512.FusedMultiplyAdd(v0, x, a02); a12 = Vector512.FusedMultiplyAdd(v1, x, a12);
                    a22 = Vector512.FusedMultiplyAdd(v2, x, a22); a32 = Vector512.FusedMultiplyAdd(v3, x, a32);
                }
                if (TN.N > 3)
                {
                    x = Vector512.Load(x3 + i);
                    a03 = Vector512.FusedMultiplyAdd(v0, x, a03); a13 = Vector512.FusedMultiplyAdd(v1, x, a13);
                    a23 = Vector512.FusedMultiplyAdd(v2, x, a23); a33 = Vector512.FusedMultiplyAdd(v3, x, a33);
                }
                if (TN.N > 4)
                {
                    x = Vector512.Load(x4 + i);
                    a04 = Vector512.FusedMultiplyAdd(v0, x, a04); a14 = Vector512.FusedMultiplyAdd(v1, x, a14);
                    a24 = Vector512.FusedMultiplyAdd(v2, x, a24); a34 = Vector512.FusedMultiplyAdd(v3, x, a34);
                }
                if (TN.N > 5)
                {
                    x = Vector512.Load(x5 + i);
                    a05 = Vector512.FusedMultiplyAdd(v0, x, a05); a15 = Vector512.FusedMultiplyAdd(v1, x, a15);
                    a25 = Vector512.FusedMultiplyAdd(v2, x, a25); a35 = Vector512.FusedMultiplyAdd(v3, x, a35);
                }
            }
            // Lanes summed before anything is called: a call with accumulators live makes the JIT keep them on the stack.
            Sums(dots, a00, a01, a02, a03, a04, a05, TN.N);
            Sums(dots + 6, a10, a11, a12, a13, a14, a15, TN.N);
            Sums(dots + 12, a20, a21, a22, a23, a24, a25, TN.N);
            Sums(dots + 18, a30, a31, a32, a33, a34, a35, TN.N);
            if (TC.On)
            {
                var e = Vector512.Max(Vector512.Max(e0, e1), Vector512.Max(e2, e3));
                if (Vector512.EqualsAny(e, Vector512.Create(AllOnes)) || F16Kernel.HasSpecialTail(w0, i, cols) || F16Kernel.HasSpecialTail(w1, i, cols)
                    || F16Kernel.HasSpecialTail(w2, i, cols) || F16Kernel.HasSpecialTail(w3, i, cols))
                    return true;
            }
            if (i < cols)
            {
                Tails(dots, w0, x0, x1, x2, x3, x4, x5, i, cols, TN.N);
                Tails(dots + 6, w1, x0, x1, x2, x3, x4, x5, i, cols, TN.N);
                Tails(dots + 12, w2, x0, x1, x2, x3, x4, x5, i, cols, TN.N);
                Tails(dots + 18, w3, x0, x1, x2, x3, x4, x5, i, cols, TN.N);
            }
            return false;
        }

        /// <summary>One row against TN tokens (row tails, and matrices of fewer than 4 rows).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static bool Tile1<TN, TC>(in Matrix m, int r, int t, float* dots) where TN : struct, ICount where TC : struct, ICheck
        {
            int cols = m.Cols;
            short* w0 = m.Row(r);
            float* x0 = m.X(t);
            float* x1 = TN.N > 1 ? m.X(t + 1) : x0, x2 = TN.N > 2 ? m.X(t + 2) : x0;
            float* x3 = TN.N > 3 ? m.X(t + 3) : x0, x4 = TN.N > 4 ? m.X(t + 4) : x0, x5 = TN.N > 5 ? m.X(t + 5) : x0;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default;
            Vector512<int> e0 = default;
            int i = 0;
            for (; i + 16 <= cols; i += 16)
            {
                var b0 = TF.Bits(w0 + i);
                if (TC.On) e0 = Vector512.Max(e0, Exponent(b0));
                var v0 = TF.Weight(b0);
                a0 = Vector512.FusedMultiplyAdd(v0, Vector512.Load(x0 + i), a0);
                if (TN.N > 1) a1 = Vector512.FusedMultiplyAdd(v0, Vector512.Load(x1 + i), a1);
                if (TN.N > 2) a2 = Vector512.FusedMultiplyAdd(v0, Vector512.Load(x2 + i), a2);
                if (TN.N > 3) a3 = Vector512.FusedMultiplyAdd(v0, Vector512.Load(x3 + i), a3);
                if (TN.N > 4) a4 = Vector512.FusedMultiplyAdd(v0, Vector512.Load(x4 + i), a4);
                if (TN.N > 5) a5 = Vector512.FusedMultiplyAdd(v0, Vector512.Load(x5 + i), a5);
            }
            Sums(dots, a0, a1, a2, a3, a4, a5, TN.N);
            if (TC.On && (Vector512.EqualsAny(e0, Vector512.Create(AllOnes)) || F16Kernel.HasSpecialTail(w0, i, cols))) return true;
            if (i < cols) Tails(dots, w0, x0, x1, x2, x3, x4, x5, i, cols, TN.N);
            return false;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Sums(float* dots, Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3,
            Vector512<float> a4, Vector512<float> a5, int n)
        {
            dots[0] = Vector512.Sum(a0);
            if (n > 1) dots[1] = Vector512.Sum(a1);
            if (n > 2) dots[2] = Vector512.Sum(a2);
            if (n > 3) dots[3] = Vector512.Sum(a3);
            if (n > 4) dots[4] = Vector512.Sum(a4);
            if (n > 5) dots[5] = Vector512.Sum(a5);
        }

        private static void Tails(float* dots, short* w, float* x0, float* x1, float* x2, float* x3, float* x4, float* x5, int i, int cols, int n)
        {
            dots[0] = Tail(dots[0], w, x0, i, cols);
            if (n > 1) dots[1] = Tail(dots[1], w, x1, i, cols);
            if (n > 2) dots[2] = Tail(dots[2], w, x2, i, cols);
            if (n > 3) dots[3] = Tail(dots[3], w, x3, i, cols);
            if (n > 4) dots[4] = Tail(dots[4], w, x4, i, cols);
            if (n > 5) dots[5] = Tail(dots[5], w, x5, i, cols);
        }
    }
}
