namespace Strata.Tensors;

/// <summary>
/// The row loops of a kernel over a layout that interleaves rows in groups of eight: each step produces eight rows'
/// dots at once (one per vector lane); rows past the last whole group are plain and go to the plain kernel.
/// Subclasses supply the group dot and its scalar twin.
/// </summary>
internal abstract unsafe class Interleaved8Kernel(WeightKernel plain) : WeightKernel
{
    public const int Rows = 8;

    public override GgmlType Type => plain.Type;
    public override int RowGroup => Rows;
    public override int PreparedBytes(int cols) => plain.PreparedBytes(cols);
    public override void Prepare(ReadOnlySpan<float> x, Span<byte> prepared) => plain.Prepare(x, prepared);

    /// <summary>Whether this machine runs <see cref="Group"/> (otherwise the scalar twin runs).</summary>
    protected abstract bool SimdSupported { get; }

    /// <summary>dots[r] = row r of the group starting at <paramref name="g"/> · the prepared activation row x.</summary>
    protected abstract void Group(byte* g, byte* x, int cols, float* dots);

    protected abstract void GroupScalar(byte* g, byte* x, int cols, float* dots);

    public override void DotRows(ReadOnlySpan<byte> w, int cols, ReadOnlySpan<byte> prepared, Span<float> y, int rowStart, int rowEnd) =>
        DotRowsBatch(w, cols, prepared, 1, y[..(rowEnd - rowStart)], 0, rowStart, rowEnd, yOffset: -rowStart);

    public override void DotRowsBatch(ReadOnlySpan<byte> w, int cols, ReadOnlySpan<byte> prepared, int n, Span<float> y, int yStride, int rowStart, int rowEnd) =>
        DotRowsBatch(w, cols, prepared, n, y, yStride, rowStart, rowEnd, yOffset: 0);

    /// <summary>y[b*yStride + r + yOffset]; rowStart must be a multiple of 8 (the group boundary).</summary>
    private void DotRowsBatch(ReadOnlySpan<byte> w, int cols, ReadOnlySpan<byte> prepared, int n, Span<float> y, int yStride, int rowStart, int rowEnd, int yOffset)
    {
        if (rowStart % Rows != 0) throw new ArgumentException($"row range must start on a group of {Rows}");
        long rb = GgmlTypeInfo.RowBytes(Type, cols);
        int pb = PreparedBytes(cols);
        if (w.Length < rb * rowEnd || prepared.Length < (long)pb * n) throw new ArgumentException("weights or activations too short");
        int fullEnd = rowStart + (rowEnd - rowStart) / Rows * Rows;
        bool simd = SimdSupported && !Kernels.ForceScalar;
        fixed (byte* pw = w)
        fixed (byte* px = prepared)
        fixed (float* py = y)
        {
            float* dots = stackalloc float[Rows];
            for (int g = rowStart; g < fullEnd; g += Rows)
                for (int b = 0; b < n; b++)
                {
                    if (simd) Group(pw + g * rb, px + (long)b * pb, cols, dots);
                    else GroupScalar(pw + g * rb, px + (long)b * pb, cols, dots);
                    for (int r = 0; r < Rows; r++) py[(long)b * yStride + g + r + yOffset] = dots[r];
                }
        }
        if (fullEnd < rowEnd)
            for (int b = 0; b < n; b++)
                plain.DotRows(w, cols, prepared.Slice(b * pb, pb), y.Slice(b * yStride + fullEnd + yOffset, rowEnd - fullEnd), fullEnd, rowEnd);
    }
}
