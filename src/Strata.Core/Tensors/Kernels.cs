using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>The kernel table: one <see cref="WeightKernel"/> per supported weight type.</summary>
public static class Kernels
{
    /// <summary>
    /// Tests set this to run every kernel's scalar twin instead of its SIMD path. It applies to the calling thread
    /// only, so tests running side by side (and pool workers) are unaffected.
    /// </summary>
    public static bool ForceScalar
    {
        get => _forceScalar;
        set => _forceScalar = value;
    }

    [ThreadStatic]
    private static bool _forceScalar;

    /// <summary>Tests set this (per thread, like <see cref="ForceScalar"/>) to run the AVX2 paths on a machine with VNNI.</summary>
    public static bool ForceNoVnni
    {
        get => _forceNoVnni;
        set => _forceNoVnni = value;
    }

    [ThreadStatic]
    private static bool _forceNoVnni;

    /// <summary>Whether the 256-bit integer dot product instruction (AVX-VNNI vpdpbusd) is used now.</summary>
    internal static bool UseVnni => AvxVnni.IsSupported && !_forceNoVnni;

    // Integer kernels need byte multiply-add (vpmaddubsw); 512-bit when the JIT accelerates Vector512.
    internal static readonly bool Int512 = Vector512.IsHardwareAccelerated && Avx512BW.IsSupported;
    internal static readonly bool Int256 = Avx2.IsSupported;

    private static readonly WeightKernel[] Table = Build();

    private static WeightKernel[] Build()
    {
        var t = new WeightKernel[64];
        WeightKernel[] all =
        [
            new F32Kernel(), new HalfTileKernel<F16Tile>(finite: false), new HalfTileKernel<Bf16Tile>(finite: true), new Q8_0Kernel(),
            new Block32Kernel<Q4_0Format>(), new Block32Kernel<Q4_1Format>(), new Block32Kernel<Q5_0Format>(), new Block32Kernel<Q5_1Format>(),
            new KQuantKernel<Q2KFormat>(), new KQuantKernel<Q3KFormat>(), new ScaleMinKKernel<Q4KFormat>(), new ScaleMinKKernel<Q5KFormat>(), new Q6KKernel(),
        ];
        foreach (var k in all) t[(int)k.Type] = k;
        return t;
    }

    public static bool Supports(GgmlType type) => (uint)type < Table.Length && Table[(int)type] != null;

    private static readonly WeightKernel F16Finite = new HalfTileKernel<F16Tile>(finite: true);
    private static readonly WeightKernel[] F16Rebased =
        Enumerable.Range(0, RebasedHalf.MaxShift + 1).Select(s => (WeightKernel)new HalfTileKernel<RebasedF16Tile>(finite: true, s)).ToArray();

    /// <summary>The kernels over <see cref="WeightLayout.Interleaved8"/>, indexed by weight type like <see cref="Table"/>.</summary>
    private static readonly WeightKernel?[] Interleaved = BuildInterleaved();

    private static WeightKernel?[] BuildInterleaved()
    {
        var t = new WeightKernel?[Table.Length];
        WeightKernel[] all =
        [
            new Q8_0x8Kernel(), new Block32x8Kernel<Q4_0Format>(), new Block32x8Kernel<Q4_1Format>(), new Block32x8Kernel<Q5_0Format>(),
            new Block32x8Kernel<Q5_1Format>(), new LowBitKx8Kernel<Q2KFormat>(), new LowBitKx8Kernel<Q3KFormat>(), new Q4_Kx8Kernel(),
            new Q5_Kx8Kernel(), new Q6_Kx8Kernel(),
        ];
        foreach (var k in all) t[(int)k.Type] = k;
        return t;
    }

    /// <summary>
    /// The kernel for weights of a type stored in a layout (see <see cref="WeightLayout"/>); for
    /// <see cref="WeightLayout.RebasedF16"/>, the shift the matrix was stored with.
    /// </summary>
    public static WeightKernel For(GgmlType type, WeightLayout layout, int rebaseShift = 0) => layout switch
    {
        WeightLayout.Plain => For(type),
        WeightLayout.PlainFinite when type == GgmlType.F16 => F16Finite,
        WeightLayout.PlainFinite => For(type),
        WeightLayout.RebasedF16 when type == GgmlType.F16 && (uint)rebaseShift < F16Rebased.Length => F16Rebased[rebaseShift],
        WeightLayout.Interleaved8 when (uint)type < Interleaved.Length && Interleaved[(int)type] is { } k => k,
        _ => throw new NotSupportedException($"no kernel for {GgmlTypeInfo.Name(type)} weights in layout {layout}"),
    };

    public static WeightKernel For(GgmlType type) =>
        Supports(type) ? Table[(int)type] : throw new NotSupportedException($"no matmul kernel for {GgmlTypeInfo.Name(type)} weights");
}
