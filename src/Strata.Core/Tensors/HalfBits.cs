using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>IEEE half and bfloat16 conversions with ggml's rounding (round to nearest even).</summary>
public static class HalfBits
{
    // 2^112 rebiases a half exponent (bias 15) placed in float position (bias 127).
    internal const float Rebias = 5.192296858534828e33f;

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

    // Vector half to float in integer steps and one subtraction that never meets a float subnormal: Intel cores take
    // a microcode assist (~100 cycles) for every multiply or FMA with a subnormal operand, and a subnormal half placed
    // in float position is one. The half, sign-extended and shifted left 13, has sign, exponent and mantissa in a
    // float's places; the exponent is rebiased by adding 112 to it; a subnormal half (exponent 0) gets exponent 113,
    // i.e. 2^-14 × (1 + m/1024), and 2^-14 taken away leaves m × 2^-24 exactly. The sign goes on last.
    private const uint RebiasBits = 112u << 23, SubnormalBit = 1u << 23, TwoToMinus14 = 113u << 23, QuietBit = 1u << 22;

    /// <summary>
    /// Halves already sign-extended to 32 bits and shifted left 13 to their exact floats, infinities and NaNs
    /// excepted (their exponent comes out 143, finite); the weight tiles check for those separately.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> FromShiftedFinite(Vector512<int> bits)
    {
        var zero = Vector512.Equals(bits & Vector512.Create(0x0f800000), Vector512<int>.Zero);
        var r = (bits & Vector512.Create(0x0fffe000)) + Vector512.ConditionalSelect(zero, Vector512.Create((int)(RebiasBits + SubnormalBit)), Vector512.Create((int)RebiasBits));
        var f = r.AsSingle() - (zero & Vector512.Create((int)TwoToMinus14)).AsSingle();
        return (f.AsInt32() | (bits & Vector512.Create(int.MinValue))).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> FromShiftedFinite(Vector256<int> bits)
    {
        var zero = Vector256.Equals(bits & Vector256.Create(0x0f800000), Vector256<int>.Zero);
        var r = (bits & Vector256.Create(0x0fffe000)) + Vector256.ConditionalSelect(zero, Vector256.Create((int)(RebiasBits + SubnormalBit)), Vector256.Create((int)RebiasBits));
        var f = r.AsSingle() - (zero & Vector256.Create((int)TwoToMinus14)).AsSingle();
        return (f.AsInt32() | (bits & Vector256.Create(int.MinValue))).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> FromShiftedFinite(Vector128<int> bits)
    {
        var zero = Vector128.Equals(bits & Vector128.Create(0x0f800000), Vector128<int>.Zero);
        var r = (bits & Vector128.Create(0x0fffe000)) + Vector128.ConditionalSelect(zero, Vector128.Create((int)(RebiasBits + SubnormalBit)), Vector128.Create((int)RebiasBits));
        var f = r.AsSingle() - (zero & Vector128.Create((int)TwoToMinus14)).AsSingle();
        return (f.AsInt32() | (bits & Vector128.Create(int.MinValue))).AsSingle();
    }

    // Zero-extended halves to floats, exact including subnormals, infinities and NaN: the half moved to the top and
    // shifted back arithmetically is FromShiftedFinite's input; an exponent of 31 then takes 112 more (143 → 255), and
    // a NaN comes out quiet, as F16C's conversion and .NET's give it.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle(Vector512<uint> h)
    {
        var f = FromShiftedFinite((h << 16).AsInt32() >> 3).AsUInt32();
        var special = Vector512.Equals(h & Vector512.Create(0x7c00u), Vector512.Create(0x7c00u));
        var nan = Vector512.GreaterThan(h & Vector512.Create(0x7fffu), Vector512.Create(0x7c00u));
        return ((f + (special & Vector512.Create(RebiasBits))) | (nan & Vector512.Create(QuietBit))).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle(Vector256<uint> h)
    {
        var f = FromShiftedFinite((h << 16).AsInt32() >> 3).AsUInt32();
        var special = Vector256.Equals(h & Vector256.Create(0x7c00u), Vector256.Create(0x7c00u));
        var nan = Vector256.GreaterThan(h & Vector256.Create(0x7fffu), Vector256.Create(0x7c00u));
        return ((f + (special & Vector256.Create(RebiasBits))) | (nan & Vector256.Create(QuietBit))).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ToSingle(Vector128<uint> h)
    {
        var f = FromShiftedFinite((h << 16).AsInt32() >> 3).AsUInt32();
        var special = Vector128.Equals(h & Vector128.Create(0x7c00u), Vector128.Create(0x7c00u));
        var nan = Vector128.GreaterThan(h & Vector128.Create(0x7fffu), Vector128.Create(0x7c00u));
        return ((f + (special & Vector128.Create(RebiasBits))) | (nan & Vector128.Create(QuietBit))).AsSingle();
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
