using Strata.Tensors;
using Strata.Weights;

namespace Strata.Models;

/// <summary>
/// output[n × rows] = input[n × cols] · Wᵀ for a weight matrix of any supported type: each input row is prepared once
/// (e.g. quantized to the kernel's activation format), then the weight rows are split across the pool.
/// </summary>
internal sealed unsafe class MatMul
{
    private readonly ComputePool _pool;
    private readonly byte[] _prepared; // [maxBatch × PreparedBytes(maxCols)] activations in the kernel's format

    public MatMul(ComputePool pool, int maxBatch, int maxCols)
    {
        _pool = pool;
        int most = 0;
        foreach (GgmlType t in Enum.GetValues<GgmlType>())
            if (GgmlTypeInfo.IsSupportedWeight(t) && maxCols % GgmlTypeInfo.BlockSize(t) == 0)
                most = Math.Max(most, Kernels.For(t).PreparedBytes(maxCols));
        _prepared = new byte[maxBatch * Math.Max(most, maxCols * sizeof(float))];
    }

    public void Run(WeightTensor w, ReadOnlySpan<float> input, int n, Span<float> output)
    {
        var kernel = Kernels.For(w.Type);
        int cols = w.Cols, rows = w.Rows;
        int pb = kernel.PreparedBytes(cols);
        var prepared = _prepared.AsSpan(0, n * pb);
        for (int i = 0; i < n; i++) kernel.Prepare(input.Slice(i * cols, cols), prepared.Slice(i * pb, pb));
        fixed (byte* p = prepared)
        fixed (float* y = output)
            _pool.MatMul(kernel, w.Data, rows, cols, (nint)p, n, (nint)y, rows);
    }
}
