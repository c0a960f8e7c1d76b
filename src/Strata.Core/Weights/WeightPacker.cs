using System.Runtime.InteropServices;
using Strata.IO;
using Strata.Tensors;

namespace Strata.Weights;

/// <summary>
/// Rearranges matrices into the layouts the fastest kernels read (today: every quantized type, in interleaved groups of 8 rows) in
/// native memory it owns. Matrices with no faster layout are returned as they are, still in the source's memory.
/// </summary>
public sealed unsafe class WeightPacker : IDisposable
{
    private readonly List<nint> _allocations = new();
    private readonly bool _enabled;

    private readonly bool _releaseSource;

    /// <param name="enabled">False keeps every matrix in its plain layout (to compare, or to save the copy).</param>
    /// <param name="sourceIsFileMapping">
    /// The matrices live in a read-only file mapping: once copied, their pages are dropped from the resident set, so a
    /// repacked model is not held twice in memory (reading them again faults them back from the file).
    /// </param>
    public WeightPacker(bool enabled = true, bool sourceIsFileMapping = false)
    {
        _enabled = enabled;
        _releaseSource = sourceIsFileMapping;
    }

    /// <summary>Bytes held in repacked copies.</summary>
    public long PackedBytes { get; private set; }

    /// <summary>
    /// The matrix in the best layout for matrix-vector products. An F16 matrix is re-encoded
    /// (<see cref="WeightLayout.RebasedF16"/>) where the machine and its values allow; otherwise it stays as it is, read
    /// once: one that holds no infinity or NaN is marked <see cref="WeightLayout.PlainFinite"/>.
    /// </summary>
    public WeightTensor Pack(WeightTensor w)
    {
        if (_enabled && w.Type == GgmlType.F16 && w.Layout == WeightLayout.Plain)
        {
            if (RebasedHalf.IsSupported && TryRebase(w) is { } rebased) return rebased;
            return F16Kernel.AllFinite((short*)w.Data, w.ByteSize / 2) ? w with { Layout = WeightLayout.PlainFinite } : w;
        }
        Repacker? repack = RepackerFor(w.Type);
        if (!_enabled || w.Layout != WeightLayout.Plain || repack is null || w.Rows < Interleaved8Kernel.Rows)
            return w;
        var copy = PageAdvice.AllocateForStreaming(w.ByteSize);
        _allocations.Add((nint)copy);
        PackedBytes += w.ByteSize;
        long rowBytes = w.RowBytes;
        // Whole groups at a time, so matrices over 2 GiB never need one span.
        long groupBytes = rowBytes * Interleaved8Kernel.Rows;
        int groupsPerStep = (int)Math.Max(1, (1 << 30) / groupBytes);
        for (int row = 0; row < w.Rows; row += groupsPerStep * Interleaved8Kernel.Rows)
        {
            int rows = Math.Min(groupsPerStep * Interleaved8Kernel.Rows, w.Rows - row);
            var src = new ReadOnlySpan<byte>((byte*)w.Data + row * rowBytes, (int)(rows * rowBytes));
            var dst = new Span<byte>(copy + row * rowBytes, (int)(rows * rowBytes));
            repack(src, dst, rows, w.Cols);
        }
        if (_releaseSource) PageAdvice.DontNeedFileBacked(w.Data, w.ByteSize);
        return w with { Data = (nint)copy, Layout = WeightLayout.Interleaved8 };
    }

    /// <summary>
    /// The F16 matrix re-encoded into a copy on huge pages, or null (nothing allocated) when a value is outside the
    /// encoding's window (an infinity or NaN, or a magnitude of 2^(1 + MaxShift) or more). Pieces of the source are dropped from the resident set as they are done, so the copy never
    /// sits beside the whole source.
    /// </summary>
    private WeightTensor? TryRebase(WeightTensor w)
    {
        const long PieceHalves = 8L << 20;
        long count = w.ByteSize / 2;
        int shift = RebasedHalf.ShiftFor((short*)w.Data, count);
        if (shift < 0) return null;
        var copy = PageAdvice.AllocateForStreaming(w.ByteSize);
        for (long at = 0; at < count; at += PieceHalves)
        {
            long n = Math.Min(PieceHalves, count - at);
            // ShiftFor has seen every value, so the encoding cannot refuse one.
            if (!RebasedHalf.TryEncode((short*)w.Data + at, (short*)copy + at, n, shift))
            {
                NativeMemory.AlignedFree(copy);
                throw new InvalidOperationException($"tensor '{w.Name}': a value outside the window of shift {shift}");
            }
            if (_releaseSource) PageAdvice.DontNeedFileBacked(w.Data + (nint)(2 * at), 2 * n);
        }
        _allocations.Add((nint)copy);
        PackedBytes += w.ByteSize;
        return w with { Data = (nint)copy, Layout = WeightLayout.RebasedF16, RebaseShift = shift };
    }

    private delegate void Repacker(ReadOnlySpan<byte> src, Span<byte> dst, int rows, int cols);

    private static Repacker? RepackerFor(GgmlType type) => type switch
    {
        GgmlType.Q4_K when Q4_Kx8.IsSupported => Q4_Kx8.Repack,
        GgmlType.Q8_0 when Q8_0x8.IsSupported => Q8_0x8.Repack,
        GgmlType.Q6_K when Q6_Kx8.IsSupported => Q6_Kx8.Repack,
        GgmlType.Q5_K when Q5_Kx8.IsSupported => Q5_Kx8.Repack,
        GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 when Block32x8.IsSupported => (src, dst, rows, cols) => Block32x8.Repack(type, src, dst, rows, cols),
        GgmlType.Q2_K or GgmlType.Q3_K when LowBitKx8.IsSupported => (src, dst, rows, cols) => LowBitKx8.Repack(type, src, dst, rows, cols),
        _ => null,
    };

    /// <summary>Whether matrices of this type have an interleaved layout on this machine.</summary>
    public static bool HasInterleavedLayout(GgmlType type) => RepackerFor(type) is not null;

    /// <summary>Writes a plain matrix of <paramref name="rows"/> × <paramref name="cols"/> into <see cref="WeightLayout.Interleaved8"/>.</summary>
    public static void Repack(GgmlType type, ReadOnlySpan<byte> plain, Span<byte> packed, int rows, int cols) =>
        (RepackerFor(type) ?? throw new NotSupportedException($"no interleaved layout for {GgmlTypeInfo.Name(type)}"))(plain, packed, rows, cols);

    public void Dispose()
    {
        foreach (var p in _allocations) NativeMemory.AlignedFree((void*)p);
        _allocations.Clear();
    }
}
