using Strata.Tensors;

namespace Strata.Gguf;

/// <summary>
/// One tensor's description. <see cref="Shape"/> is in GGUF order: Shape[0] (ne0) is the innermost, contiguous
/// dimension, so a weight matrix with Shape = [cols, rows] stores <c>rows</c> rows of <c>cols</c> elements.
/// </summary>
public sealed record GgufTensorInfo(string Name, GgmlType Type, long[] Shape, long Offset, long ByteSize)
{
    /// <summary>Offset of the tensor's first byte from the start of the file.</summary>
    public long FileOffset { get; init; }

    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n *= d;
            return n;
        }
    }

    /// <summary>Number of rows: every dimension but the innermost.</summary>
    public long Rows => ElementCount / Shape[0];

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
