using Strata.Tensors;
using Strata.Weights;

namespace Strata.Models;

/// <summary>
/// output[n × rows] = input[n × cols] · Wᵀ for a weight matrix of any supported type: each input row is prepared once
/// (e.g. quantized to the kernel's activation format), then the weight rows are split across the pool. Projections that
/// read the same input (q/k/v, gate/up) reuse the prepared rows when their kernels agree.
/// </summary>
internal sealed unsafe class MatMul
{
    private readonly ComputePool _pool;
    private readonly byte[] _prepared; // [maxBatch × PreparedBytes(maxCols)] activations in the kernel's format

    // What _prepared holds now.
    private float[]? _preparedFrom;
    private WeightKernel? _preparedFor;
    private int _preparedRows, _preparedCols;

    /// <summary>When set, the time spent preparing activation rows is moved from the caller's phase to <see cref="ForwardPhase.Prepare"/>.</summary>
    public ForwardProfile? Profile { get; set; }

    // Below this many rows the pool's wake-up costs more than quantizing on one thread.
    private const int ParallelPrepareRows = 8;

    // The prepare job the pool's threads share (set for one ParallelFor, then cleared).
    private readonly Action<int, int, int> _prepareBody;
    private WeightKernel? _jobKernel;
    private float[]? _jobInput;
    private int _jobCols, _jobPb;

    public MatMul(ComputePool pool, int maxBatch, int maxCols)
    {
        _pool = pool;
        _prepareBody = PrepareRows;
        int most = maxCols * sizeof(float);
        foreach (GgmlType t in Enum.GetValues<GgmlType>())
        {
            if (!Kernels.Supports(t)) continue;
            int bs = GgmlTypeInfo.BlockSize(t);
            // Prepared sizes grow with the row length, so the longest row rounded up to whole blocks bounds them all.
            most = Math.Max(most, Kernels.For(t).PreparedBytes((maxCols + bs - 1) / bs * bs));
        }
        _prepared = new byte[maxBatch * most];
    }

    /// <param name="sameInput">
    /// True when <paramref name="input"/> has not changed since the previous call read it, so the prepared rows can be
    /// reused if this weight's kernel prepares them the same way.
    /// </param>
    public void Run(WeightTensor w, float[] input, int n, Span<float> output, bool sameInput = false)
    {
        var kernel = Kernels.For(w.Type, w.Layout);
        int cols = w.Cols, rows = w.Rows;
        int pb = kernel.PreparedBytes(cols);
        var prepared = _prepared.AsSpan(0, n * pb);
        bool reuse = sameInput && ReferenceEquals(_preparedFrom, input) && _preparedFor == kernel && _preparedRows == n && _preparedCols == cols;
        if (!reuse)
        {
            long start = Profile is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
            if (n >= ParallelPrepareRows)
            {
                (_jobKernel, _jobInput, _jobCols, _jobPb) = (kernel, input, cols, pb);
                _pool.ParallelFor(n, _prepareBody);
                (_jobKernel, _jobInput) = (null, null);
            }
            else
                for (int i = 0; i < n; i++) kernel.Prepare(input.AsSpan(i * cols, cols), prepared.Slice(i * pb, pb));
            (_preparedFrom, _preparedFor, _preparedRows, _preparedCols) = (input, kernel, n, cols);
            if (Profile is not null) Profile.MovePrepare(System.Diagnostics.Stopwatch.GetTimestamp() - start);
        }
        fixed (byte* p = prepared)
        fixed (float* y = output)
            _pool.MatMul(kernel, w.Data, rows, cols, (nint)p, n, (nint)y, rows);
    }

    private void PrepareRows(int begin, int end, int thread)
    {
        for (int i = begin; i < end; i++)
            _jobKernel!.Prepare(_jobInput.AsSpan(i * _jobCols, _jobCols), _prepared.AsSpan(i * _jobPb, _jobPb));
    }
}
