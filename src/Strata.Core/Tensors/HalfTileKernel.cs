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
/// That widening is eleven vector operations per 16 weights (sign-extension and shift included), which held one-token F16 decode on the Xeon to 76-81 % of
/// the read bandwidth. Where the machine has AVX-512 and a matrix's values are all finite and below 2 in magnitude
/// (trained weights rarely come near 2; a matrix that does keeps this path), the loader re-encodes it (<see cref="RebasedF16Tile"/>, <see cref="RebasedHalf"/>)
/// and the same tiles widen it in four: 89-90 % of the bandwidth, the same floats.
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
internal sealed unsafe partial class HalfTileKernel<TF>(bool finite, int rebaseShift = 0) : WeightKernel where TF : struct, ITileFormat
{
    /// <summary>What each dot is multiplied by as it is stored: 2^shift for a matrix stored divided by it (<see cref="RebasedHalf"/>), else 1.</summary>
    private readonly float _scale = MathF.ScaleB(1f, rebaseShift);

    public override GgmlType Type => TF.Type;
    public override int PreparedBytes(int cols) => XStride(cols) * 4;
    public override object PrepareKey => TF.Type == GgmlType.BF16 ? F16Kernel.Bf16PrepareKey : F16Kernel.HalfPrepareKey;

    /// <summary>
    /// Floats from one prepared token to the next: one cache line more than the row, so that a tile's 6 token rows
    /// (8 or 32 KiB apart for the 1.1B shape's rows) do not all fall in the same L1 set.
    /// </summary>
    internal static int XStride(int cols) => cols + 16;

    /// <summary>Row chunks of 128 KiB of weights: with a token block of the same size both stay in L2 while tiles run.</summary>
    public override int BatchChunkBytes => 128 * 1024;

    /// <summary>x rounded as ggml rounds activations for these weights (to f16 or bf16, nearest even).</summary>
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
            var m = new Matrix((short*)pw, cols, (float*)px, py + yOffset, yStride, _scale);
            if (Kernels.ForceScalar)
            {
                for (int r = rowStart; r < rowEnd; r++)
                    for (int t = 0; t < n; t++) m.Set(r, t, DotScalar(m.Row(r), m.X(t), cols));
            }
            else if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported && F16Kernel.ForcePath == F16Kernel.Path.Best) Tiles512.Run(m, n, rowStart, rowEnd, !finite);
            else if (Avx2.IsSupported && F16Kernel.ForcePath <= F16Kernel.Path.Avx2) Tiles256.Run(m, n, rowStart, rowEnd, !finite);
            else
                for (int r = rowStart; r < rowEnd; r++)
                    for (int t = 0; t < n; t++) m.Set(r, t, DotPortable(m.Row(r), m.X(t), cols));
        }
    }

    /// <summary>The operands of one call: weight rows of <see cref="Cols"/> halves, prepared rows, outputs.</summary>
    internal readonly struct Matrix(short* w, int cols, float* x, float* y, int yStride, float scale)
    {
        public readonly int Cols = cols;
        public short* Row(int r) => w + (long)r * Cols;
        public float* X(int t) => x + (long)t * XStride(Cols);
        /// <summary>Stores the dot of row r and token t, times the matrix's scale (exact: a power of two).</summary>
        public void Set(int r, int t, float dot) => y[(long)t * yStride + r] = dot * scale;
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
                acc = Vector128.FusedMultiplyAdd(TF.Exact(h), Vector128.Load(x + i), acc);
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
}
