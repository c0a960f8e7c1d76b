using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>How a 16-bit float format meets <see cref="HalfTileKernel{TF}"/>: its bit widening and activation rounding.</summary>
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
    public static float Product(short w, float x) => HalfBits.ToSingle((ushort)w) * x;
    public static Vector256<float> Prepare(Vector256<float> x) => F16Kernel.RoundToHalf(x);
    public static float Prepare(float x) => HalfBits.RoundToHalf(x);
}

/// <summary>
/// F16 re-encoded at load (<see cref="RebasedHalf"/>): the same sign-extend and shift, then a merge and a zero fix-up;
/// every value comes out exact and no matrix in this layout holds an infinity or NaN, so nothing is checked.
/// </summary>
internal unsafe struct RebasedF16Tile : ITileFormat
{
    public static GgmlType Type => GgmlType.F16;
    public static Vector512<int> Bits(short* w) => F16Tile.Bits(w);
    public static Vector256<int> Bits256(short* w) => F16Tile.Bits256(w);
    public static Vector512<float> Weight(Vector512<int> bits) => RebasedHalf.FromShifted(bits);
    public static Vector256<float> Weight(Vector256<int> bits) => RebasedHalf.FromShifted(bits);
    public static Vector512<float> Exact(Vector512<uint> h) => RebasedHalf.FromShifted((h << 16).AsInt32() >> 3);
    public static Vector256<float> Exact(Vector256<uint> h) => RebasedHalf.FromShifted((h << 16).AsInt32() >> 3);
    public static Vector128<float> Exact(Vector128<uint> h) => RebasedHalf.FromShifted((h << 16).AsInt32() >> 3);
    public static float Product(short w, float x) => RebasedHalf.Decode((ushort)w) * x;
    public static Vector256<float> Prepare(Vector256<float> x) => F16Tile.Prepare(x);
    public static float Prepare(float x) => F16Tile.Prepare(x);
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

    /// <summary>What F16 kernels (plain, finite, re-encoded) prepare, and what BF16 kernels prepare: one row serves each family.</summary>
    internal static readonly object HalfPrepareKey = new(), Bf16PrepareKey = new();

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
