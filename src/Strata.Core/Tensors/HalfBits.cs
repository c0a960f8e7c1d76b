using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>IEEE half and bfloat16 conversions with ggml's rounding (round to nearest even).</summary>
public static class HalfBits
{
    // 2^112 rebiases a half exponent (bias 15) placed in float position (bias 127).
    internal const float Rebias = 5.192296858534828e33f;
    internal const float Unrebias = 1.925929944387236e-34f; // 2^-112

    public static float ToSingle(ushort h) => (float)BitConverter.UInt16BitsToHalf(h);

    /// <summary>float to half bits, round to nearest even (same as F16C / ggml's GGML_FP32_TO_FP16).</summary>
    public static ushort FromSingle(float f) => BitConverter.HalfToUInt16Bits((Half)f);

    /// <summary>f rounded through half precision.</summary>
    public static float RoundToHalf(float f) => (float)(Half)f;

    /// <summary>Branch-free half to float for block scales; exact for finite values (inf/NaN not handled).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingleFast(uint h)
    {
        float f = BitConverter.UInt32BitsToSingle((h & 0x7fff) << 13) * Rebias;
        return BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(f) | ((h & 0x8000) << 16));
    }

    // Vector half to float, exact including subnormals, infinities and NaN, in integer steps and one subtraction
    // that never meets a float subnormal: Intel cores take a microcode assist (~100 cycles) for every multiply or FMA
    // with a subnormal operand, and a subnormal half placed in float position is one. The exponent is rebiased by
    // adding 112 to it (112 more for infinity/NaN); a subnormal half (exponent 0) gets exponent 113, i.e. 2^-14 ×
    // (1 + m/1024), and 2^-14 taken away leaves m × 2^-24 exactly. The sign goes on last.
    private const uint RebiasBits = 112u << 23, SubnormalBit = 1u << 23, TwoToMinus14 = 113u << 23;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle(Vector512<uint> h)
    {
        var e = h & Vector512.Create(0x7c00u);
        var zero = Vector512.Equals(e, Vector512<uint>.Zero);
        var r = ((h & Vector512.Create(0x7fffu)) << 13) + Vector512.Create(RebiasBits);
        r += Vector512.Equals(e, Vector512.Create(0x7c00u)) & Vector512.Create(RebiasBits);
        r += zero & Vector512.Create(SubnormalBit);
        var f = r.AsSingle() - (zero & Vector512.Create(TwoToMinus14)).AsSingle();
        return (f.AsUInt32() | ((h & Vector512.Create(0x8000u)) << 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle(Vector256<uint> h)
    {
        var e = h & Vector256.Create(0x7c00u);
        var zero = Vector256.Equals(e, Vector256<uint>.Zero);
        var r = ((h & Vector256.Create(0x7fffu)) << 13) + Vector256.Create(RebiasBits);
        r += Vector256.Equals(e, Vector256.Create(0x7c00u)) & Vector256.Create(RebiasBits);
        r += zero & Vector256.Create(SubnormalBit);
        var f = r.AsSingle() - (zero & Vector256.Create(TwoToMinus14)).AsSingle();
        return (f.AsUInt32() | ((h & Vector256.Create(0x8000u)) << 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ToSingle(Vector128<uint> h)
    {
        var e = h & Vector128.Create(0x7c00u);
        var zero = Vector128.Equals(e, Vector128<uint>.Zero);
        var r = ((h & Vector128.Create(0x7fffu)) << 13) + Vector128.Create(RebiasBits);
        r += Vector128.Equals(e, Vector128.Create(0x7c00u)) & Vector128.Create(RebiasBits);
        r += zero & Vector128.Create(SubnormalBit);
        var f = r.AsSingle() - (zero & Vector128.Create(TwoToMinus14)).AsSingle();
        return (f.AsUInt32() | ((h & Vector128.Create(0x8000u)) << 16)).AsSingle();
    }

    /// <summary>
    /// Halves already sign-extended to 32 bits and shifted left 13 (sign at bit 31, exponent and mantissa in float
    /// position) to their exact floats, infinities and NaNs excepted (they come out finite): the same integer
    /// rebias and subnormal fix as <see cref="ToSingle(Vector512{uint})"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> FromShiftedFinite(Vector512<int> bits)
    {
        var em = bits & Vector512.Create(0x0fffe000);
        var zero = Vector512.Equals(bits & Vector512.Create(0x0f800000), Vector512<int>.Zero);
        var r = em + Vector512.ConditionalSelect(zero, Vector512.Create((int)(RebiasBits + SubnormalBit)), Vector512.Create((int)RebiasBits));
        var f = r.AsSingle() - (zero & Vector512.Create((int)TwoToMinus14)).AsSingle();
        return (f.AsInt32() | (bits & Vector512.Create(int.MinValue))).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> FromShiftedFinite(Vector256<int> bits)
    {
        var em = bits & Vector256.Create(0x0fffe000);
        var zero = Vector256.Equals(bits & Vector256.Create(0x0f800000), Vector256<int>.Zero);
        var r = em + Vector256.ConditionalSelect(zero, Vector256.Create((int)(RebiasBits + SubnormalBit)), Vector256.Create((int)RebiasBits));
        var f = r.AsSingle() - (zero & Vector256.Create((int)TwoToMinus14)).AsSingle();
        return (f.AsInt32() | (bits & Vector256.Create(int.MinValue))).AsSingle();
    }

    /// <summary>
    /// Eight halves to floats, exact for finite values and subnormals; infinity and NaN read as finite values, as
    /// <see cref="ToSingleFast"/> does (block scales are finite). Four operations after the widening: the half moved to
    /// the top and shifted back arithmetically lands sign, exponent and mantissa in a float's places (the sign copied
    /// into three exponent bits, cleared), leaving only the exponent bias to fix with one multiply.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector256<float> ToSingleFinite(ushort* h)
    {
        var top = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(h), 16);
        var f = Avx2.ShiftRightArithmetic(top, 3) & Vector256.Create(unchecked((int)0x8FFFFFFF));
        return f.AsSingle() * Vector256.Create(Rebias);
    }

    public static float Bf16ToSingle(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <summary>float to bfloat16, round to nearest even; NaN stays a quiet NaN (as ggml).</summary>
    public static ushort Bf16FromSingle(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return (ushort)((u >> 16) | 64);
        return (ushort)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
    }

    public static float RoundToBf16(float f) => Bf16ToSingle(Bf16FromSingle(f));
}
