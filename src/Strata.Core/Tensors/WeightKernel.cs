namespace Strata.Tensors;

/// <summary>
/// Matrix-vector kernel for one weight type. W has rows of <c>cols</c> elements, row r at r*RowBytes(cols).
/// An activation row is first turned into the kernel's own format by <see cref="Prepare"/> (for the quantized
/// types the same int8 blocks ggml's CPU backend uses, so the results track llama.cpp).
/// </summary>
public abstract class WeightKernel
{
    public abstract GgmlType Type { get; }

    /// <summary>Rows a row range handed to this kernel must start on (and be a multiple of, but for the last).</summary>
    public virtual int RowGroup => 1;

    /// <summary>
    /// About how many bytes of weights one row chunk of a batched product (n &gt; 1) should hold: kernels that block
    /// tokens for cache reuse inside a chunk want larger ones.
    /// </summary>
    public virtual int BatchChunkBytes => 32768;

    /// <summary>Scratch bytes for one prepared activation row of <paramref name="cols"/> elements.</summary>
    public abstract int PreparedBytes(int cols);

    /// <summary>
    /// Kernels whose <see cref="Prepare"/> writes the same bytes return the same key, so a row prepared for one serves
    /// the others (q/k/v of a Q4_K_M model are Q4_K and Q6_K, both reading Q8_K blocks).
    /// </summary>
    public virtual object PrepareKey => this;

    /// <summary>Converts one activation row (length = cols) into <paramref name="prepared"/> (PreparedBytes(cols) bytes).</summary>
    public abstract void Prepare(ReadOnlySpan<float> x, Span<byte> prepared);

    /// <summary>y[i] = W[rowStart+i]·x for rowStart ≤ rowStart+i &lt; rowEnd; <paramref name="w"/> holds the whole matrix (or starts at row 0 of the range passed).</summary>
    public abstract void DotRows(ReadOnlySpan<byte> w, int cols, ReadOnlySpan<byte> prepared, Span<float> y, int rowStart, int rowEnd);

    /// <summary>
    /// y[b*yStride + r] = W[r]·x_b for b &lt; n and r in [rowStart, rowEnd); the n prepared rows lie back to back,
    /// PreparedBytes(cols) apart. Each weight row is read once and used for the whole batch.
    /// </summary>
    public virtual void DotRowsBatch(ReadOnlySpan<byte> w, int cols, ReadOnlySpan<byte> prepared, int n, Span<float> y, int yStride, int rowStart, int rowEnd)
    {
        int pb = PreparedBytes(cols);
        Span<float> one = stackalloc float[1];
        for (int r = rowStart; r < rowEnd; r++)
            for (int b = 0; b < n; b++)
            {
                DotRows(w, cols, prepared.Slice(b * pb, pb), one, r, r + 1);
                y[b * yStride + r] = one[0];
            }
    }
}
