using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>
/// F16 weights re-encoded at load (<see cref="WeightLayout.RebasedF16"/>) so that the tiles widen every value exactly in
/// four vector operations instead of eleven: sign-extend, shift, one bitwise merge, one fix-up for zero.
/// <para>
/// The encoding keeps a half's sign and 10 mantissa bits and stores a 5-bit exponent e' that reads as float exponent
/// 96 + e' when ORed in (96 = 0b0110_0000 overlaps none of e's bits, so no add is needed): magnitudes in [2^-31, 2)
/// are representable. A normal half (exponent e, 1..15) has e' = e + 16; a subnormal half m × 2^-24 — the values an
/// F16 widening must not hand the FMAs as float subnormals, which cost Intel cores a microcode assist each — is
/// stored normalised (e' 7..16), so the float it reads as is the exact value and always normal; zero is 0x0000
/// (e' = 0), which the fix-up turns into 0.
/// </para>
/// <para>
/// A matrix whose largest magnitude is 2 or more is stored divided by 2^shift (shift 1..<see cref="MaxShift"/>, the
/// least that fits; every subnormal still has an e' of 1 or more), and its kernel multiplies each dot by 2^shift at the
/// end: scaling by a power of two commutes with every rounding on the way, so the dots are still the F16 kernel's bit
/// for bit. Matrices holding an infinity, a NaN or a magnitude of 2^(1 + MaxShift) or more are not re-encoded; they
/// keep the F16 paths (<see cref="HalfTileKernel{TF}"/> with <see cref="F16Tile"/>).
/// </para>
/// </summary>
internal static unsafe class RebasedHalf
{
    /// <summary>Whether the encoding is used here: its four-operation reading needs AVX-512 (ternary logic, fix-up).</summary>
    public static bool IsSupported => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    // After sign-extension and a shift left 13: sign (and its copies) in bits 31..28, e' in 27..23, mantissa in 22..13.
    private const int KeepBits = unchecked((int)0x8fffe000), ExponentBase = 96 << 23;
    // vfixupimm's response per input class, 4 bits each: class 2 (the input is +0 or -0) gives +0, the others keep the merge.
    private const int ZeroToZero = 0x8 << 8;

    /// <summary>The most a matrix's values may be divided by (as a power of two) with every subnormal half still representable.</summary>
    public const int MaxShift = 6;

    /// <summary>
    /// The shift a matrix is stored with: 0 when every value is below 2 in magnitude, else the least that brings the
    /// largest below 2; -1 when it holds an infinity, a NaN or a magnitude too large for <see cref="MaxShift"/>.
    /// </summary>
    public static int ShiftFor(short* src, long count)
    {
        long i = 0;
        int most = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var e = Vector512<short>.Zero;
            for (; i + 32 <= count; i += 32) e = Vector512.Max(e, Vector512.Load(src + i) & Vector512.Create((short)0x7c00));
            for (int j = 0; j < 32; j++) most = Math.Max(most, e[j]);
        }
        for (; i < count; i++) most = Math.Max(most, src[i] & 0x7c00);
        int shift = Math.Max(0, (most >> 10) - 15);
        return most == 0x7c00 || shift > MaxShift ? -1 : shift;
    }

    /// <summary>The encoding of one half divided by 2^shift, or false when it falls outside the window (infinity, NaN, too large).</summary>
    public static bool TryEncode(ushort h, int shift, out ushort r)
    {
        int e = (h >> 10) & 31, m = h & 0x3ff;
        r = 0;
        if (e == 31 || e > 15 + shift) return false;
        if (e > 0) r = (ushort)(h + ((16 - shift) << 10));
        else if (m != 0)
        {
            int p = 31 - System.Numerics.BitOperations.LeadingZeroCount((uint)m); // leading bit of m: value 2^(p-24) × 1.f
            r = (ushort)((h & 0x8000) | (p + 7 - shift) << 10 | (m << (10 - p)) & 0x3ff);
        }
        return true;
    }

    /// <summary>The float an encoded weight reads as: the half it was made from, divided by 2^shift.</summary>
    public static float Decode(ushort r)
    {
        int e = (r >> 10) & 31;
        if (e == 0) return 0f;
        return BitConverter.UInt32BitsToSingle((uint)(r & 0x8000) << 16 | (uint)(96 + e) << 23 | (uint)(r & 0x3ff) << 13);
    }

    /// <summary>
    /// Encodes <paramref name="count"/> halves divided by 2^<paramref name="shift"/> (0..<see cref="MaxShift"/>); false
    /// (with <paramref name="dst"/> partly written) as soon as one falls outside the window.
    /// </summary>
    public static bool TryEncode(short* src, short* dst, long count, int shift = 0)
    {
        if ((uint)shift > MaxShift) throw new ArgumentOutOfRangeException(nameof(shift), shift, $"the shift must be 0..{MaxShift}");
        long i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= count; i += 16)
            {
                var h = Vector512.WidenLower(Vector512.Create(Vector256.Load((ushort*)src + i), Vector256<ushort>.Zero)).AsInt32();
                var e = h & Vector512.Create(0x7c00);
                if (Vector512.GreaterThanAny(e, Vector512.Create((15 + shift) << 10)) || Vector512.EqualsAny(e, Vector512.Create(0x7c00))) return false;
                var normal = h + Vector512.Create((16 - shift) << 10);
                // A subnormal's mantissa converted to float is exact and normalised: its exponent (127 + p) and top
                // mantissa bits, shifted down 13, less (120 + shift) << 10, are e' = p + 7 - shift and the 10 stored bits.
                var m = h & Vector512.Create(0x3ff);
                var sub = (h & Vector512.Create(0x8000)) | (Vector512.ConvertToSingle(m).AsInt32() >>> 13) - Vector512.Create((120 + shift) << 10);
                sub = Vector512.ConditionalSelect(Vector512.Equals(m, Vector512<int>.Zero), Vector512<int>.Zero, sub);
                var r = Vector512.ConditionalSelect(Vector512.Equals(e, Vector512<int>.Zero), sub, normal);
                Vector512.Narrow(r.AsUInt32(), Vector512<uint>.Zero).GetLower().Store((ushort*)dst + i);
            }
        }
        for (; i < count; i++)
        {
            if (!TryEncode((ushort)src[i], shift, out var r)) return false;
            dst[i] = (short)r;
        }
        return true;
    }

    /// <summary>Encoded weights, sign-extended to 32 bits and shifted left 13, to their floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FromShifted(Vector512<int> bits)
    {
        // (bits & KeepBits) | ExponentBase in one operation; only zero (bits all 0) is not the merge's float.
        var merged = Avx512F.TernaryLogic(bits, Vector512.Create(KeepBits), Vector512.Create(ExponentBase), 0xEA);
        return Avx512F.Fixup(merged.AsSingle(), bits.AsSingle(), Vector512.Create(ZeroToZero), 0);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FromShifted(Vector256<int> bits)
    {
        var merged = (bits & Vector256.Create(KeepBits)) | Vector256.Create(ExponentBase);
        return Vector256.AndNot(merged, Vector256.Equals(bits, Vector256<int>.Zero)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> FromShifted(Vector128<int> bits)
    {
        var merged = (bits & Vector128.Create(KeepBits)) | Vector128.Create(ExponentBase);
        return Vector128.AndNot(merged, Vector128.Equals(bits, Vector128<int>.Zero)).AsSingle();
    }
}
