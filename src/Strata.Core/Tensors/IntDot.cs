using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>
/// u8 x s8 dot products: vpmaddubsw pairs then vpmaddwd; each int32 lane sums 4 neighbouring bytes.
/// Exact while every pair sum u0*s0+u1*s1 fits int16 (callers keep u ≤ 128 and |s| ≤ 127).
/// </summary>
internal static class IntDot
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> Dot(Vector512<byte> u, Vector512<sbyte> s) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, s), Vector512<short>.One);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot(Vector256<byte> u, Vector256<sbyte> s) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256<short>.One);

    /// <summary>Like <see cref="Dot(Vector512{byte}, Vector512{sbyte})"/> but each int16 pair sum is multiplied by its lane of <paramref name="scales"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> DotScaled(Vector512<byte> u, Vector512<sbyte> s, Vector512<short> scales) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, s), scales);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> DotScaled(Vector256<byte> u, Vector256<sbyte> s, Vector256<short> scales) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), scales);
}

/// <summary>
/// acc + (u8 × s8 in groups of 4 per int32 lane): one instruction with VNNI (vpdpbusd), the AVX2 pair (vpmaddubsw,
/// vpmaddwd) otherwise. Kernels are generic over it so each path compiles to straight code.
/// </summary>
internal interface IByteDot
{
    static abstract Vector256<int> Add(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s);

    /// <summary>
    /// Like <see cref="Add"/> into a block accumulator that <see cref="Widen"/> or <see cref="WidenScaled"/> turns into
    /// int32 sums. Without VNNI the byte pair sums stay in int16 until then, which saves the vpmaddwd of every step:
    /// callers use it only where every int16 lane's total fits (e.g. 8 steps of 4-bit quants: 8·2·15·128).
    /// </summary>
    static abstract Vector256<int> AddNarrow(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s);

    /// <summary>A block accumulator's int32 sums.</summary>
    static abstract Vector256<int> Widen(Vector256<int> acc);

    /// <summary>A block accumulator's int32 sums times each lane's scale (0..255).</summary>
    static abstract Vector256<int> WidenScaled(Vector256<int> acc, Vector256<int> scale);
}

/// <summary>vpdpbusd: exact for any u8 × s8.</summary>
internal struct VnniDot : IByteDot
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Add(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s) => AvxVnni.MultiplyWideningAndAdd(acc, u, s);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> AddNarrow(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s) => AvxVnni.MultiplyWideningAndAdd(acc, u, s);
    public static Vector256<int> Widen(Vector256<int> acc) => acc;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> WidenScaled(Vector256<int> acc, Vector256<int> scale) => Avx2.MultiplyLow(acc, scale);
}

/// <summary>AVX2: exact while every pair sum u0·s0 + u1·s1 fits int16 (u ≤ 128 with |s| ≤ 127).</summary>
internal struct MaddDot : IByteDot
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Add(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s) => acc + IntDot.Dot(u, s);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> AddNarrow(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s) => (acc.AsInt16() + Avx2.MultiplyAddAdjacent(u, s)).AsInt32();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Widen(Vector256<int> acc) => Avx2.MultiplyAddAdjacent(acc.AsInt16(), Vector256<short>.One);
    /// <summary>vpmaddwd against the scale in both int16 halves of its lane: scaling and widening in one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> WidenScaled(Vector256<int> acc, Vector256<int> scale) => Avx2.MultiplyAddAdjacent(acc.AsInt16(), (scale | (scale << 16)).AsInt16());
}
