using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

internal sealed unsafe partial class HalfTileKernel<TF> where TF : struct, ITileFormat
{
    /// <summary>
    /// AVX2: 8 halves per step. Batches take tiles of 2 rows × up to 4 tokens (8 accumulators of 16 registers); one
    /// token takes 4 rows at a time, since one accumulator chain per row waits on the FMA's latency (4 cycles on Zen 3)
    /// and would hold decode to half the memory's speed.
    /// </summary>
    internal sealed class Tiles256 : TileDriver
    {
        private const int PairTokens = 4;
        // The one-token tile asks for the same column of the rows two tiles on: a 2048-column row is one 4 KiB page,
        // so each tile is four short streams the hardware prefetcher must find again; on Zen 3 this lifts F16 decode
        // of the 1.1B shape 8.8-9.9 -> 10.2-11.1 tok/s (interleaved runs; one tile on 8.8-10.7, three 10.4-10.8).
        private const int PrefetchRowsAhead = 8;

        public static void Run(in Matrix m, int n, int rowStart, int rowEnd, bool check)
        {
            if (n >= WidenOnceTokens)
            {
                RunWidened(m, n, rowStart, rowEnd);
                return;
            }
            int rows = rowEnd - rowStart;
            var special = SpecialFlags(rows);
            int step = n == 1 ? 4 : 2;
            int block = Math.Max(PairTokens, 128 * 1024 / (4 * m.Cols) / PairTokens * PairTokens);
            float* dots = stackalloc float[4 * PairTokens];
            for (int tb = 0; tb < n; tb += block)
            {
                int te = Math.Min(n, tb + block);
                for (int r = rowStart; r < rowEnd; r += step)
                {
                    int tr = Math.Min(step, rowEnd - r);
                    ref bool sp = ref special[r - rowStart];
                    for (int t = tb; t < te; t += PairTokens)
                    {
                        int tn = Math.Min(PairTokens, te - t);
                        bool first = check && t == 0;
                        if (t == 0) sp = false;
                        if (!sp)
                        {
                            bool found = tr == 4
                                ? (first ? Tile4<Check>(m, r, t, dots) : Tile4<NoCheck>(m, r, t, dots))
                                : Pairs(m, r, tr, t, tn, first, dots);
                            if (!found)
                            {
                                for (int i = 0; i < tr; i++)
                                    for (int j = 0; j < tn; j++) m.Set(r + i, t + j, dots[PairTokens * i + j]);
                                continue;
                            }
                            sp = true;
                        }
                        for (int i = 0; i < tr; i++)
                            for (int j = 0; j < tn; j++) m.Set(r + i, t + j, Exact(m.Row(r + i), m.X(t + j), m.Cols));
                    }
                }
            }
        }

        /// <summary>
        /// Many tokens: as <see cref="Tiles512"/>'s RunWidened, the rows widened to floats once per call, then tiles of
        /// 2 rows × 6 tokens (12 accumulators of 16 registers) over them; 8 floats per step.
        /// </summary>
        private static void RunWidened(in Matrix m, int n, int rowStart, int rowEnd)
        {
            int cols = m.Cols, whole = cols / 8 * 8;
            int piece = Math.Max(2, WidenRowBytes / (4 * cols) / 2 * 2);
            float* wide = Wide((long)Math.Min(piece, rowEnd - rowStart) * cols);
            int block = Math.Max(TileTokens, WidenBlockBytes / (4 * cols) / TileTokens * TileTokens);
            float* dots = stackalloc float[2 * TileTokens];
            for (int p0 = rowStart; p0 < rowEnd; p0 += piece)
            {
                int p1 = Math.Min(rowEnd, p0 + piece);
                for (int r = p0; r < p1; r++)
                {
                    ushort* w = (ushort*)m.Row(r);
                    float* f = wide + (long)(r - p0) * cols;
                    for (int k = 0; k < whole; k += 8) TF.Exact(Avx2.ConvertToVector256Int32(w + k).AsUInt32()).Store(f + k);
                }
                for (int tb = 0; tb < n; tb += block)
                {
                    int te = Math.Min(n, tb + block);
                    for (int r = p0; r < p1; r += 2)
                    {
                        int tr = Math.Min(2, p1 - r);
                        float* w0 = wide + (long)(r - p0) * cols, w1 = tr == 2 ? w0 + cols : w0;
                        for (int t = tb; t < te; t += TileTokens)
                        {
                            int tn = Math.Min(TileTokens, te - t);
                            switch (tn)
                            {
                                case 6: WideTile2<N6>(m, w0, w1, cols, t, dots); break;
                                case 5: WideTile2<N5>(m, w0, w1, cols, t, dots); break;
                                case 4: WideTile2<N4>(m, w0, w1, cols, t, dots); break;
                                case 3: WideTile2<N3>(m, w0, w1, cols, t, dots); break;
                                case 2: WideTile2<N2>(m, w0, w1, cols, t, dots); break;
                                default: WideTile2<N1>(m, w0, w1, cols, t, dots); break;
                            }
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

        /// <summary>dots[i*6 + j] = widened row i (of 2) · token t+j over the whole vectors of the row.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void WideTile2<TN>(in Matrix m, float* w0, float* w1, int cols, int t, float* dots) where TN : struct, ICount
        {
            float* x0 = m.X(t);
            float* x1 = TN.N > 1 ? m.X(t + 1) : x0, x2 = TN.N > 2 ? m.X(t + 2) : x0;
            float* x3 = TN.N > 3 ? m.X(t + 3) : x0, x4 = TN.N > 4 ? m.X(t + 4) : x0, x5 = TN.N > 5 ? m.X(t + 5) : x0;
            Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default, a04 = default, a05 = default;
            Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default, a14 = default, a15 = default;
            for (int i = 0; i + 8 <= cols; i += 8)
            {
                var v0 = Vector256.Load(w0 + i); var v1 = Vector256.Load(w1 + i);
                var x = Vector256.Load(x0 + i);
                a00 = Vector256.FusedMultiplyAdd(v0, x, a00); a10 = Vector256.FusedMultiplyAdd(v1, x, a10);
                if (TN.N > 1) { x = Vector256.Load(x1 + i); a01 = Vector256.FusedMultiplyAdd(v0, x, a01); a11 = Vector256.FusedMultiplyAdd(v1, x, a11); }
                if (TN.N > 2) { x = Vector256.Load(x2 + i); a02 = Vector256.FusedMultiplyAdd(v0, x, a02); a12 = Vector256.FusedMultiplyAdd(v1, x, a12); }
                if (TN.N > 3) { x = Vector256.Load(x3 + i); a03 = Vector256.FusedMultiplyAdd(v0, x, a03); a13 = Vector256.FusedMultiplyAdd(v1, x, a13); }
                if (TN.N > 4) { x = Vector256.Load(x4 + i); a04 = Vector256.FusedMultiplyAdd(v0, x, a04); a14 = Vector256.FusedMultiplyAdd(v1, x, a14); }
                if (TN.N > 5) { x = Vector256.Load(x5 + i); a05 = Vector256.FusedMultiplyAdd(v0, x, a05); a15 = Vector256.FusedMultiplyAdd(v1, x, a15); }
            }
            dots[0] = Vector256.Sum(a00); dots[6] = Vector256.Sum(a10);
            if (TN.N > 1) { dots[1] = Vector256.Sum(a01); dots[7] = Vector256.Sum(a11); }
            if (TN.N > 2) { dots[2] = Vector256.Sum(a02); dots[8] = Vector256.Sum(a12); }
            if (TN.N > 3) { dots[3] = Vector256.Sum(a03); dots[9] = Vector256.Sum(a13); }
            if (TN.N > 4) { dots[4] = Vector256.Sum(a04); dots[10] = Vector256.Sum(a14); }
            if (TN.N > 5) { dots[5] = Vector256.Sum(a05); dots[11] = Vector256.Sum(a15); }
        }

        /// <summary>Up to 4 rows, two at a time (the second of an odd one repeats the first, and is dropped).</summary>
        private static bool Pairs(in Matrix m, int r, int tr, int t, int tn, bool check, float* dots)
        {
            bool found = false;
            for (int i = 0; i < tr; i += 2)
            {
                int r1 = i + 1 < tr ? r + i + 1 : r + i;
                float* d = dots + PairTokens * i;
                found |= (tn, check) switch
                {
                    (4, false) => Tile2<N4, NoCheck>(m, r + i, r1, t, d),
                    (4, true) => Tile2<N4, Check>(m, r + i, r1, t, d),
                    (3, false) => Tile2<N3, NoCheck>(m, r + i, r1, t, d),
                    (3, true) => Tile2<N3, Check>(m, r + i, r1, t, d),
                    (2, false) => Tile2<N2, NoCheck>(m, r + i, r1, t, d),
                    (2, true) => Tile2<N2, Check>(m, r + i, r1, t, d),
                    (_, false) => Tile2<N1, NoCheck>(m, r + i, r1, t, d),
                    (_, true) => Tile2<N1, Check>(m, r + i, r1, t, d),
                };
            }
            return found;
        }

        private static float Exact(short* w, float* x, int cols)
        {
            var acc = Vector256<float>.Zero;
            int k = 0;
            for (; k + 8 <= cols; k += 8)
            {
                var h = Avx2.ConvertToVector256Int32((ushort*)w + k).AsUInt32();
                acc = Vector256.FusedMultiplyAdd(TF.Exact(h), Vector256.Load(x + k), acc);
            }
            return Tail(Vector256.Sum(acc), w, x, k, cols);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<int> Exponent(Vector256<int> bits) => bits & Vector256.Create(0x0f800000);

        private static bool Special(Vector256<int> e) => Vector256.EqualsAny(e, Vector256.Create(0x0f800000));

        /// <summary>dots[4*i] = row r+i · token t, for 4 rows: four independent chains.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static bool Tile4<TC>(in Matrix m, int r, int t, float* dots) where TC : struct, ICheck
        {
            int cols = m.Cols;
            short* w0 = m.Row(r), w1 = m.Row(r + 1), w2 = m.Row(r + 2), w3 = m.Row(r + 3);
            float* x0 = m.X(t);
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector256<int> e0 = default, e1 = default;
            long ahead = (long)PrefetchRowsAhead * cols;
            int i = 0;
            for (; i + 8 <= cols; i += 8)
            {
                if ((i & 31) == 0)
                {
                    Sse.Prefetch1(w0 + i + ahead); Sse.Prefetch1(w1 + i + ahead);
                    Sse.Prefetch1(w2 + i + ahead); Sse.Prefetch1(w3 + i + ahead);
                }
                var b0 = TF.Bits256(w0 + i); var b1 = TF.Bits256(w1 + i); var b2 = TF.Bits256(w2 + i); var b3 = TF.Bits256(w3 + i);
                if (TC.On)
                {
                    e0 = Vector256.Max(e0, Vector256.Max(Exponent(b0), Exponent(b1)));
                    e1 = Vector256.Max(e1, Vector256.Max(Exponent(b2), Exponent(b3)));
                }
                var x = Vector256.Load(x0 + i);
                a0 = Vector256.FusedMultiplyAdd(TF.Weight(b0), x, a0);
                a1 = Vector256.FusedMultiplyAdd(TF.Weight(b1), x, a1);
                a2 = Vector256.FusedMultiplyAdd(TF.Weight(b2), x, a2);
                a3 = Vector256.FusedMultiplyAdd(TF.Weight(b3), x, a3);
            }
            dots[0] = Vector256.Sum(a0); dots[PairTokens] = Vector256.Sum(a1);
            dots[2 * PairTokens] = Vector256.Sum(a2); dots[3 * PairTokens] = Vector256.Sum(a3);
            if (TC.On && (Special(Vector256.Max(e0, e1)) || F16Kernel.HasSpecialTail(w0, i, cols) || F16Kernel.HasSpecialTail(w1, i, cols)
                || F16Kernel.HasSpecialTail(w2, i, cols) || F16Kernel.HasSpecialTail(w3, i, cols)))
                return true;
            if (i < cols)
            {
                dots[0] = Tail(dots[0], w0, x0, i, cols); dots[PairTokens] = Tail(dots[PairTokens], w1, x0, i, cols);
                dots[2 * PairTokens] = Tail(dots[2 * PairTokens], w2, x0, i, cols); dots[3 * PairTokens] = Tail(dots[3 * PairTokens], w3, x0, i, cols);
            }
            return false;
        }

        /// <summary>dots[4*i + j] = row (r0, r1)[i] · token t+j, for TN tokens: each activation load serves both rows.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static bool Tile2<TN, TC>(in Matrix m, int r0, int r1, int t, float* dots) where TN : struct, ICount where TC : struct, ICheck
        {
            int cols = m.Cols;
            short* w0 = m.Row(r0), w1 = m.Row(r1);
            float* x0 = m.X(t), x1 = TN.N > 1 ? m.X(t + 1) : x0, x2 = TN.N > 2 ? m.X(t + 2) : x0, x3 = TN.N > 3 ? m.X(t + 3) : x0;
            Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
            Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
            Vector256<int> e = default;
            int i = 0;
            for (; i + 8 <= cols; i += 8)
            {
                var b0 = TF.Bits256(w0 + i); var b1 = TF.Bits256(w1 + i);
                if (TC.On) e = Vector256.Max(e, Vector256.Max(Exponent(b0), Exponent(b1)));
                var v0 = TF.Weight(b0); var v1 = TF.Weight(b1);
                var x = Vector256.Load(x0 + i);
                a00 = Vector256.FusedMultiplyAdd(v0, x, a00); a10 = Vector256.FusedMultiplyAdd(v1, x, a10);
                if (TN.N > 1)
                {
                    x = Vector256.Load(x1 + i);
                    a01 = Vector256.FusedMultiplyAdd(v0, x, a01); a11 = Vector256.FusedMultiplyAdd(v1, x, a11);
                }
                if (TN.N > 2)
                {
                    x = Vector256.Load(x2 + i);
                    a02 = Vector256.FusedMultiplyAdd(v0, x, a02); a12 = Vector256.FusedMultiplyAdd(v1, x, a12);
                }
                if (TN.N > 3)
                {
                    x = Vector256.Load(x3 + i);
                    a03 = Vector256.FusedMultiplyAdd(v0, x, a03); a13 = Vector256.FusedMultiplyAdd(v1, x, a13);
                }
            }
            Sums(dots, a00, a01, a02, a03, TN.N);
            Sums(dots + PairTokens, a10, a11, a12, a13, TN.N);
            if (TC.On && (Special(e) || F16Kernel.HasSpecialTail(w0, i, cols) || F16Kernel.HasSpecialTail(w1, i, cols))) return true;
            if (i < cols)
            {
                Tails(dots, w0, x0, x1, x2, x3, i, cols, TN.N);
                Tails(dots + PairTokens, w1, x0, x1, x2, x3, i, cols, TN.N);
            }
            return false;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Sums(float* dots, Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3, int n)
        {
            dots[0] = Vector256.Sum(a0);
            if (n > 1) dots[1] = Vector256.Sum(a1);
            if (n > 2) dots[2] = Vector256.Sum(a2);
            if (n > 3) dots[3] = Vector256.Sum(a3);
        }

        private static void Tails(float* dots, short* w, float* x0, float* x1, float* x2, float* x3, int i, int cols, int n)
        {
            dots[0] = Tail(dots[0], w, x0, i, cols);
            if (n > 1) dots[1] = Tail(dots[1], w, x1, i, cols);
            if (n > 2) dots[2] = Tail(dots[2], w, x2, i, cols);
            if (n > 3) dots[3] = Tail(dots[3], w, x3, i, cols);
        }
    }
}
