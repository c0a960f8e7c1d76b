using Strata.Tensors;

namespace Strata.Weights;

/// <summary>
/// One weight tensor as the kernels see it: a type, a GGUF-order shape and a pointer to bytes that stay valid while
/// the source is alive. Where the bytes live (a mapped file today; pinned DRAM, far memory or a stream from SSD later)
/// is the source's business.
/// </summary>
public sealed record WeightTensor(string Name, GgmlType Type, long[] Shape, nint Data, long ByteSize)
{
    /// <summary>How the bytes are arranged; kernels are chosen by type and layout.</summary>
    public WeightLayout Layout { get; init; } = WeightLayout.Plain;

    /// <summary>For <see cref="WeightLayout.RebasedF16"/>: the power of two the stored values were divided by (0 for the others).</summary>
    public int RebaseShift { get; init; }

    /// <summary>The matrix-vector kernel for the tensor as it is stored.</summary>
    public WeightKernel Kernel => Kernels.For(Type, Layout, RebaseShift);

    /// <summary>Elements per row (ne0).</summary>
    public int Cols => (int)Shape[0];

    /// <summary>Rows: the product of the outer dimensions. A plain loop: the token loop asks on every matmul, and must
    /// not allocate.</summary>
    public int Rows
    {
        get
        {
            long rows = 1;
            for (int i = 1; i < Shape.Length; i++) rows *= Shape[i];
            return (int)rows;
        }
    }

    public long RowBytes => GgmlTypeInfo.RowBytes(Type, Cols);

    /// <summary>One row's bytes; only for the plain layout.</summary>
    public unsafe ReadOnlySpan<byte> Row(int r) => Layout is WeightLayout.Plain or WeightLayout.PlainFinite
        ? new((byte*)Data + r * RowBytes, (int)RowBytes)
        : throw new InvalidOperationException($"tensor '{Name}' is stored as {Layout}; rows are not contiguous");

    public unsafe ReadOnlySpan<byte> Bytes => ByteSize <= int.MaxValue
        ? new((void*)Data, (int)ByteSize)
        : throw new InvalidOperationException($"tensor '{Name}' exceeds 2 GiB; use row access");
}

/// <summary>Where a model's weights come from. Implementations: a memory-mapped GGUF file; later tiers plug in here.</summary>
public interface IWeightSource : IDisposable
{
    /// <summary>The tensor, or null when the model has none of that name.</summary>
    WeightTensor? TryGet(string name);
}
