namespace Strata.Tensors;

/// <summary>Shared row loops over a per-row dot primitive; subclasses supply the SIMD dot and its scalar twin.</summary>
internal abstract unsafe class RowKernel : WeightKernel
{
    protected abstract float DotRow(byte* w, byte* x, int cols);

    protected abstract float DotRowScalar(byte* w, byte* x, int cols);

    /// <summary>
    /// One row against <paramref name="n"/> prepared tokens <paramref name="pb"/> bytes apart: y[t*yStride] =
    /// DotRow(row, token t). Kernels that can unpack a row once for several tokens override it.
    /// </summary>
    protected virtual void DotRowTokens(byte* row, byte* x, int pb, int n, int cols, float* y, long yStride)
    {
        for (int t = 0; t < n; t++) y[t * yStride] = DotRow(row, x + (long)t * pb, cols);
    }

    private long RowBytes(int cols) => GgmlTypeInfo.RowBytes(Type, cols);

    public override void DotRows(ReadOnlySpan<byte> w, int cols, ReadOnlySpan<byte> prepared, Span<float> y, int rowStart, int rowEnd)
    {
        long rb = RowBytes(cols);
        Validate(w, rb, rowEnd, prepared, PreparedBytes(cols));
        if (y.Length < rowEnd - rowStart) throw new ArgumentException("y is shorter than the row range");
        bool scalar = Kernels.ForceScalar;
        fixed (byte* pw = w)
        fixed (byte* px = prepared)
        fixed (float* py = y)
        {
            for (int r = rowStart; r < rowEnd; r++)
            {
                byte* row = pw + r * rb;
                py[r - rowStart] = scalar ? DotRowScalar(row, px, cols) : DotRow(row, px, cols);
            }
        }
    }

    public override void DotRowsBatch(ReadOnlySpan<byte> w, int cols, ReadOnlySpan<byte> prepared, int n, Span<float> y, int yStride, int rowStart, int rowEnd)
    {
        long rb = RowBytes(cols);
        int pb = PreparedBytes(cols);
        Validate(w, rb, rowEnd, prepared, (long)pb * n);
        if (n > 0 && y.Length < (long)(n - 1) * yStride + rowEnd) throw new ArgumentException("y is too short for the batch");
        bool scalar = Kernels.ForceScalar;
        fixed (byte* pw = w)
        fixed (byte* px = prepared)
        fixed (float* py = y)
        {
            for (int r = rowStart; r < rowEnd; r++)
            {
                byte* row = pw + r * rb;
                if (scalar)
                    for (int b = 0; b < n; b++) py[(long)b * yStride + r] = DotRowScalar(row, px + (long)b * pb, cols);
                else DotRowTokens(row, px, pb, n, cols, py + r, yStride);
            }
        }
    }

    private static void Validate(ReadOnlySpan<byte> w, long rowBytes, int rowEnd, ReadOnlySpan<byte> prepared, long preparedBytes)
    {
        if (w.Length < rowBytes * rowEnd) throw new ArgumentException($"weights hold {w.Length} bytes, rows up to {rowEnd} need {rowBytes * rowEnd}");
        if (prepared.Length < preparedBytes) throw new ArgumentException($"prepared activations hold {prepared.Length} bytes, need {preparedBytes}");
    }
}
