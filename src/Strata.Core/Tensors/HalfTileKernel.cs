using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>
/// F16 and BF16 weights against float activations, as register tiles of 4 weight rows × up to 6 tokens (BF16's
/// widening is a shift, exact for every value; what follows on widening is F16's, <see cref="F16Tile"/>).
/// <para>
/// .NET has no F16C conversion, so a half is widened by bits: sign-extended to 32 bits, shifted left 13 and masked,
/// which places sign, exponent and mantissa where a float has them; the exponent is rebiased by an integer add, and a
/// subnormal half (exponent 0) is given exponent 1 and has 2^-14 taken away (<see cref="HalfBits.FromShiftedFinite(Vector512{int})"/>).
/// No float operation ever sees a subnormal operand: an earlier widening left the exponent 112 short and scaled the
/// activations by 2^112 instead (three operations per 16 weights), but subnormal halves then reached the FMAs as float
/// subnormals, and Intel cores take a microcode assist for each such FMA — F16 prefill on a Xeon (Emerald Rapids) ran
/// at a fifth of the rate it reaches now, with 0.2 % of the weights subnormal.
/// </para>
/// <para>
/// The shift does not carry infinities and NaNs across (their exponent comes out finite), so unless the matrix is
/// known to be finite (<see cref="WeightLayout.PlainFinite"/>, checked at load) every row is checked for exponent 31
/// on its first pass, and a row that holds one is recomputed with the exact widening, same order.
/// </para>
/// <para>
/// Every (row, token) sum is formed in one fixed order — one vector accumulator over the row in chunks of the
/// vector width, its lanes summed, then the tail in sequence — whichever tile computes it, so a token's dot in a
/// batch equals its single-token dot bit for bit, and batched prefill agrees with decode.
/// </para>
/// </summary>
internal sealed unsafe class HalfTileKernel<TF>(bool finite) : WeightKernel where TF : struct, ITileFormat
{
    public override GgmlType Type => TF.Type;
    public override int PreparedBytes(int cols) => XStride(cols) * 4;

    /// <summary>
    /// Floats from one prepared token to the next: one cache line more than the row, so that a tile's 6 token rows
    /// (8 or 32 KiB apart for the 1.1B shape's rows) do not all fall in the same L1 set.
    /// </summary>
    internal static int XStride(int cols) => cols + 16;

    /// <summary>Row chunks of 128 KiB of weights: with a token block of the same size both stay in L2 while tiles run.</summary>
    public override int BatchChunkBytes => 128 * 1024;

    /// <summary>x rounded as ggml rounds activations for these weights (to f16 or bf16, nearest even), in the format's scale.</summary>
    public override void Prepare(ReadOnlySpan<float> x, Span<byte> prepared)
    {
        var p = MemoryMarshal.Cast<byte, float>(prepared)[..x.Length];
        int i = 0;
        if (Vector256.IsHardwareAccelerated && !Kernels.ForceScalar)
        {
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float pr = ref MemoryMarshal.GetReference(p);
            for (; i + 8 <= x.Length; i += 8)
                TF.Prepare(Vector256.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref pr, (nuint)i);
        }
        for (; i < x.Length; i++) p[i] = TF.Prepare(x[i]);
    }

    public override void DotRows(ReadOnlySpan<byte> w, int cols, ReadOnlySpan<byte> prepared, Span<float> y, int rowStart, int rowEnd)
    {
        if (y.Length < rowEnd - rowStart) throw new ArgumentException("y is shorter than the row range");
        Run(w, cols, prepared, 1, y, 0, rowStart, rowEnd, -rowStart);
    }

    public override void DotRowsBatch(ReadOnlySpan<byte> w, int cols, ReadOnlySpan<byte> prepared, int n, Span<float> y, int yStride, int rowStart, int rowEnd)
    {
        if (n > 0 && y.Length < (long)(n - 1) * yStride + rowEnd) throw new ArgumentException("y is too short for the batch");
        Run(w, cols, prepared, n, y, yStride, rowStart, rowEnd, 0);
    }

    private void Run(ReadOnlySpan<byte> w, int cols, ReadOnlySpan<byte> prepared, int n, Span<float> y, int yStride, int rowStart, int rowEnd, int yOffset)
    {
        if (w.Length < 2L * cols * rowEnd) throw new ArgumentException($"weights hold {w.Length} bytes, rows up to {rowEnd} need {2L * cols * rowEnd}");
        if (prepared.Length < 4L * XStride(cols) * (n - 1) + 4L * cols) throw new ArgumentException($"prepared activations hold {prepared.Length} bytes, need {4L * XStride(cols) * (n - 1) + 4L * cols}");
        if (n <= 0 || rowEnd <= rowStart) return;
        fixed (byte* pw = w)
        fixed (byte* px = prepared)
        fixed (float* py = y)
        {
            var m = new Matrix((short*)pw, cols, (float*)px, py + yOffset, yStride);
            if (Kernels.ForceScalar)
            {
                for (int r = rowStart; r < rowEnd; r++)
                    for (int t = 0; t < n; t++) m.Y(r, t) = DotScalar(m.Row(r), m.X(t), cols);
            }
            else if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported && F16Kernel.ForcePath == F16Kernel.Path.Best) Tiles512.Run(m, n, rowStart, rowEnd, !finite);
            else if (Avx2.IsSupported && F16Kernel.ForcePath <= F16Kernel.Path.Avx2) Tiles256.Run(m, n, rowStart, rowEnd, !finite);
            else
                for (int r = rowStart; r < rowEnd; r++)
                    for (int t = 0; t < n; t++) m.Y(r, t) = DotPortable(m.Row(r), m.X(t), cols);
        }
    }

    /// <summary>The operands of one call: weight rows of <see cref="Cols"/> halves, prepared rows, outputs.</summary>
    internal readonly struct Matrix(short* w, int cols, float* x, float* y, int yStride)
    {
        public readonly int Cols = cols;
        public short* Row(int r) => w + (long)r * Cols;
        public float* X(int t) => x + (long)t * XStride(Cols);
        public ref float Y(int r, int t) => ref y[(long)t * yStride + r];
    }

    /// <summary>The scalar twin: exact widening, the true activation, in order.</summary>
    internal static float DotScalar(short* w, float* x, int cols)
    {
        float sum = 0;
        for (int i = 0; i < cols; i++) sum += TF.Product(w[i], x[i]);
        return sum;
    }

    /// <summary>The tail past the last whole vector, shared by every path so all of them end a sum the same way.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Tail(float sum, short* w, float* x, int from, int cols)
    {
        for (int i = from; i < cols; i++) sum += TF.Product(w[i], x[i]);
        return sum;
    }

    /// <summary>Machines without AVX2: 128-bit vectors of whatever the platform has, exact widening.</summary>
    private static float DotPortable(short* w, float* x, int cols)
    {
        int i = 0;
        var acc = Vector128<float>.Zero;
        if (Vector128.IsHardwareAccelerated)
            for (; i + 4 <= cols; i += 4)
            {
                var h = Vector128.WidenLower(Vector128.CreateScalarUnsafe(*(long*)(w + i)).AsInt16()).AsUInt32() & Vector128.Create(0xffffu);
                acc = Vector128.FusedMultiplyAdd(TF.Exact(h), TF.Unscaled(Vector128.Load(x + i)), acc);
            }
        return Tail(Vector128.Sum(acc), w, x, i, cols);
    }

    /// <summary>
    /// Token counts of a tile (1..6), as types, so that the JIT compiles one tile per count with the unused
    /// accumulators gone.
    /// </summary>
    internal interface ICount { static abstract int N { get; } }
    internal struct N1 : ICount { public static int N => 1; }
    internal struct N2 : ICount { public static int N => 2; }
    internal struct N3 : ICount { public static int N => 3; }
    internal struct N4 : ICount { public static int N => 4; }
    internal struct N5 : ICount { public static int N => 5; }
    internal struct N6 : ICount { public static int N => 6; }

    /// <summary>Whether a tile also looks for infinities and NaNs among its weights.</summary>
    internal interface ICheck { static abstract bool On { get; } }
    internal struct Check : ICheck { public static bool On => true; }
    internal struct NoCheck : ICheck { public static bool On => false; }

    /// <summary>Row tiles × token tiles over a row range; a row holding an infinity or NaN is redone exactly.</summary>
    internal abstract class TileDriver
    {
        public const int TileRows = 4, TileTokens = 6;

        /// <summary>Rows whose weights hold exponent 31, found on the first token tile and kept for the rest.</summary>
        [ThreadStatic] private static bool[]? _special;

        /// <summary>A thread's widened weight rows, grown to the most floats it has needed.</summary>
        [ThreadStatic] private static float* _wide;
        [ThreadStatic] private static long _wideFloats;

        protected static float* Wide(long floats)
        {
            if (_wideFloats < floats)
            {
                if (_wide != null) NativeMemory.AlignedFree(_wide);
                _wide = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
                _wideFloats = floats;
            }
            return _wide;
        }

        /// <summary>
        /// Batches from this many tokens on widen their weights once per call (RunWidened). Below it the tiles widen
        /// as they go: 8 F16 sequences decoding together ran at 38-42 tok/s that way on the Xeon, 32-33 widened once.
        /// </summary>
        protected const int WidenOnceTokens = 2 * TileTokens;

        /// <summary>Weights widened at a time by RunWidened (as floats), and prepared activations per token block: each about half of a 1-2 MiB L2.</summary>
        protected const int WidenRowBytes = 512 * 1024, WidenBlockBytes = 512 * 1024;

        protected static bool[] SpecialFlags(int rows)
        {
            var f = _special;
            if (f is null || f.Length < rows) _special = f = new bool[Math.Max(rows, 256)];
            return f;
        }
    }

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
                                    m.Y(r + i, t + j) = whole < cols ? Tail(d, w, m.X(t + j), whole, cols) : d;
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
                            for (int j = 0; j < tn; j++) m.Y(r + i, t + j) = dots[i * TileTokens + j];
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
                        acc = Vector512.FusedMultiplyAdd(TF.Exact(h), TF.Unscaled(Vector512.Load(x + k)), acc);
                    }
                    m.Y(r + i, t + j) = Tail(Vector512.Sum(acc), w, x, k, m.Cols);
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
                                    for (int j = 0; j < tn; j++) m.Y(r + i, t + j) = dots[PairTokens * i + j];
                                continue;
                            }
                            sp = true;
                        }
                        for (int i = 0; i < tr; i++)
                            for (int j = 0; j < tn; j++) m.Y(r + i, t + j) = Exact(m.Row(r + i), m.X(t + j), m.Cols);
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
                                    m.Y(r + i, t + j) = whole < cols ? Tail(d, w, m.X(t + j), whole, cols) : d;
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
                acc = Vector256.FusedMultiplyAdd(TF.Exact(h), TF.Unscaled(Vector256.Load(x + k)), acc);
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

/// <summary>How a 16-bit float format meets <see cref="HalfTileKernel{TF}"/>: its bit widening and activation scale.</summary>
internal unsafe interface ITileFormat
{
    static abstract GgmlType Type { get; }
    /// <summary>16 weights widened to 32-bit lanes, in place for <see cref="Weight(Vector512{int})"/>.</summary>
    static abstract Vector512<int> Bits(short* w);
    static abstract Vector256<int> Bits256(short* w);
    static abstract Vector512<float> Weight(Vector512<int> bits);
    static abstract Vector256<float> Weight(Vector256<int> bits);
    /// <summary>Zero-extended halves to their exact values (infinities and NaNs included).</summary>
    static abstract Vector512<float> Exact(Vector512<uint> h);
    static abstract Vector256<float> Exact(Vector256<uint> h);
    static abstract Vector128<float> Exact(Vector128<uint> h);
    /// <summary>A prepared activation back at its true scale (for <see cref="Exact(Vector512{uint})"/> weights).</summary>
    static abstract Vector512<float> Unscaled(Vector512<float> x);
    static abstract Vector256<float> Unscaled(Vector256<float> x);
    static abstract Vector128<float> Unscaled(Vector128<float> x);
    /// <summary>One weight times one prepared activation, exactly as the vector paths' products round.</summary>
    static abstract float Product(short w, float x);
    static abstract Vector256<float> Prepare(Vector256<float> x);
    static abstract float Prepare(float x);
}

/// <summary>F16: sign-extend, shift left 13, then the integer rebias and subnormal fix of <see cref="HalfBits.FromShiftedFinite(Vector512{int})"/>.</summary>
internal unsafe struct F16Tile : ITileFormat
{
    public static GgmlType Type => GgmlType.F16;
    public static Vector512<int> Bits(short* w) => Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector256.Load(w)), 13);
    public static Vector256<int> Bits256(short* w) => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(w), 13);
    public static Vector512<float> Weight(Vector512<int> bits) => HalfBits.FromShiftedFinite(bits);
    public static Vector256<float> Weight(Vector256<int> bits) => HalfBits.FromShiftedFinite(bits);
    public static Vector512<float> Exact(Vector512<uint> h) => HalfBits.ToSingle(h);
    public static Vector256<float> Exact(Vector256<uint> h) => HalfBits.ToSingle(h);
    public static Vector128<float> Exact(Vector128<uint> h) => HalfBits.ToSingle(h);
    public static Vector512<float> Unscaled(Vector512<float> x) => x;
    public static Vector256<float> Unscaled(Vector256<float> x) => x;
    public static Vector128<float> Unscaled(Vector128<float> x) => x;
    public static float Product(short w, float x) => HalfBits.ToSingle((ushort)w) * x;
    public static Vector256<float> Prepare(Vector256<float> x) => F16Kernel.RoundToHalf(x);
    public static float Prepare(float x) => HalfBits.RoundToHalf(x);
}

/// <summary>BF16: zero-extend and shift left 16 is the exact float (infinities and NaNs too), so nothing is checked.</summary>
internal unsafe struct Bf16Tile : ITileFormat
{
    public static GgmlType Type => GgmlType.BF16;
    public static Vector512<int> Bits(short* w) => Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector256.Load((ushort*)w)).AsInt32(), 16);
    public static Vector256<int> Bits256(short* w) => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((ushort*)w).AsInt32(), 16);
    public static Vector512<float> Weight(Vector512<int> bits) => bits.AsSingle();
    public static Vector256<float> Weight(Vector256<int> bits) => bits.AsSingle();
    public static Vector512<float> Exact(Vector512<uint> h) => (h << 16).AsSingle();
    public static Vector256<float> Exact(Vector256<uint> h) => (h << 16).AsSingle();
    public static Vector128<float> Exact(Vector128<uint> h) => (h << 16).AsSingle();
    public static Vector512<float> Unscaled(Vector512<float> x) => x;
    public static Vector256<float> Unscaled(Vector256<float> x) => x;
    public static Vector128<float> Unscaled(Vector128<float> x) => x;
    public static float Product(short w, float x) => HalfBits.Bf16ToSingle((ushort)w) * x;
    public static Vector256<float> Prepare(Vector256<float> x) => F16Kernel.RoundToBf16(x);
    public static float Prepare(float x) => HalfBits.RoundToBf16(x);
}

/// <summary>What the 16-bit float tile kernels share: activation rounding, the inf/NaN scan, test switches.</summary>
internal static unsafe class F16Kernel
{
    internal enum Path { Best, Avx2, Portable }

    /// <summary>Tests set this (per thread, like <see cref="Kernels.ForceScalar"/>) to run a narrower path than the machine's best.</summary>
    internal static Path ForcePath
    {
        get => _forcePath;
        set => _forcePath = value;
    }

    [ThreadStatic] private static Path _forcePath;

    /// <summary>Floats rounded to the nearest f16 value (ties to even; past 65504 to infinity; NaN stays NaN).</summary>
    internal static Vector256<float> RoundToHalf(Vector256<float> x)
    {
        var u = x.AsUInt32();
        var sign = u & Vector256.Create(0x80000000u);
        var a = u & Vector256.Create(0x7fffffffu);
        // Normal halves: drop 13 mantissa bits, ties to even; a carry into the exponent is the right rounding.
        var normal = (a + Vector256.Create(0x0fffu) + ((a >> 13) & Vector256<uint>.One)) & Vector256.Create(0xffffe000u);
        normal = Vector256.ConditionalSelect(Vector256.GreaterThan(normal, Vector256.Create(0x477fe000u)), Vector256.Create(0x7f800000u), normal);
        // Below 2^-14 halves are multiples of 2^-24: adding and taking away 0.5 rounds to them (ties to even).
        var tiny = ((a.AsSingle() + Vector256.Create(0.5f)) - Vector256.Create(0.5f)).AsUInt32();
        var r = Vector256.ConditionalSelect(Vector256.LessThan(a, Vector256.Create(0x38800000u)), tiny, normal);
        r = Vector256.ConditionalSelect(Vector256.GreaterThan(a, Vector256.Create(0x7f800000u)), Vector256.Create(0x7fc00000u), r);
        return (r | sign).AsSingle();
    }

    /// <summary>Floats rounded to the nearest bf16 value (ties to even; NaN stays a quiet NaN), as ggml rounds them.</summary>
    internal static Vector256<float> RoundToBf16(Vector256<float> x)
    {
        var u = x.AsUInt32();
        var r = (u + Vector256.Create(0x7fffu) + ((u >> 16) & Vector256<uint>.One)) & Vector256.Create(0xffff0000u);
        var nan = (u & Vector256.Create(0xffff0000u)) | Vector256.Create(0x00400000u);
        return Vector256.ConditionalSelect(Vector256.GreaterThan(u & Vector256.Create(0x7fffffffu), Vector256.Create(0x7f800000u)), nan, r).AsSingle();
    }

    /// <summary>Whether none of <paramref name="count"/> halves is an infinity or NaN.</summary>
    public static bool AllFinite(short* h, long count)
    {
        long i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var any = Vector512<short>.Zero;
            for (; i + 32 <= count; i += 32)
            {
                var e = Vector512.Load(h + i) & Vector512.Create((short)0x7c00);
                any |= Vector512.Equals(e, Vector512.Create((short)0x7c00));
            }
            if (any != Vector512<short>.Zero) return false;
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var any = Vector256<short>.Zero;
            for (; i + 16 <= count; i += 16)
            {
                var e = Vector256.Load(h + i) & Vector256.Create((short)0x7c00);
                any |= Vector256.Equals(e, Vector256.Create((short)0x7c00));
            }
            if (any != Vector256<short>.Zero) return false;
        }
        for (; i < count; i++)
            if ((h[i] & 0x7c00) == 0x7c00) return false;
        return true;
    }

    /// <summary>Whether a row's elements from <paramref name="from"/> on hold an infinity or NaN.</summary>
    internal static bool HasSpecialTail(short* w, int from, int cols) => from < cols && !AllFinite(w + from, cols - from);
}
