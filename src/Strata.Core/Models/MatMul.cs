using System.Runtime.CompilerServices;
using Strata.Tensors;
using Strata.Weights;

namespace Strata.Models;

/// <summary>
/// output[n × rows] = input[n × cols] · Wᵀ for a weight matrix of any supported type: each input row is prepared once
/// (e.g. quantized to the kernel's activation format), then the weight rows are split across the pool. Projections that
/// read the same input (q/k/v, gate/up) run as one pool job and share the prepared rows when their kernels agree.
/// </summary>
internal sealed unsafe class MatMul
{
    private readonly ComputePool _pool;
    private readonly byte[] _prepared;  // [maxBatch × PreparedBytes(maxCols)] activations in the kernel's format
    private byte[]? _prepared2;         // the same for a fused part whose kernel prepares another format (made on first need)
    private readonly ComputePool.Part[] _parts = new ComputePool.Part[ComputePool.MaxParts];

    /// <summary>When set, the time spent preparing activation rows is moved from the caller's phase to <see cref="ForwardPhase.Prepare"/>.</summary>
    public ForwardProfile? Profile { get; set; }

    // Below this many rows the pool's wake-up costs more than quantizing on one thread.
    private const int ParallelPrepareRows = 8;

    // The prepare job the pool's threads share (set for one ParallelFor, then cleared).
    private readonly Action<int, int, int> _prepareBody;
    private WeightKernel? _jobKernel;
    private float[]? _jobInput;
    private byte[]? _jobBuffer;
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

    public void Run(WeightTensor w, float[] input, int n, Span<float> output)
    {
        var kernel = w.Kernel;
        PrepareInto(kernel, _prepared, input, n, w.Cols);
        fixed (byte* p = _prepared)
        fixed (float* y = output)
            _pool.MatMul(kernel, w.Data, w.Rows, w.Cols, (nint)p, n, (nint)y, w.Rows);
    }

    /// <summary>
    /// Two or three projections of the same input (gate/up; q/k/v) in one pool job: one wake-up and one barrier.
    /// Each output is [n × its rows]. The input is prepared once per distinct activation format.
    /// </summary>
    public void Run(WeightTensor a, WeightTensor b, WeightTensor? c, float[] input, int n, Span<float> ya, Span<float> yb, Span<float> yc)
    {
        int cols = a.Cols;
        if (b.Cols != cols || c is not null && c.Cols != cols) throw new ArgumentException("fused projections must read rows of the same length");
        var ka = a.Kernel;
        var kb = b.Kernel;
        var kc = c?.Kernel;
        PrepareInto(ka, _prepared, input, n, cols);
        // A second format (rare: mixed types of one input) goes to the second buffer; a third must match one of them.
        object first = ka.PrepareKey;
        object? second = null;
        if (kb.PrepareKey != first)
        {
            second = kb.PrepareKey;
            PrepareInto(kb, Second(), input, n, cols);
        }
        if (kc is not null && kc.PrepareKey != first && kc.PrepareKey != second)
        {
            if (second is not null) throw new NotSupportedException("three projections of one input in three activation formats");
            second = kc.PrepareKey;
            PrepareInto(kc, Second(), input, n, cols);
        }
        fixed (byte* p1 = _prepared)
        fixed (byte* p2 = _prepared2 ?? _prepared)
        fixed (float* y1 = ya)
        fixed (float* y2 = yb)
        fixed (float* y3 = yc)
        {
            _parts[0] = new ComputePool.Part(ka, a.Data, a.Rows, (nint)p1, (nint)y1);
            _parts[1] = new ComputePool.Part(kb, b.Data, b.Rows, kb.PrepareKey == first ? (nint)p1 : (nint)p2, (nint)y2);
            int count = 2;
            if (c is not null) _parts[count++] = new ComputePool.Part(kc!, c.Data, c.Rows, kc!.PrepareKey == first ? (nint)p1 : (nint)p2, (nint)y3);
            _pool.MatMul(_parts.AsSpan(0, count), cols, n);
            Array.Clear(_parts);
        }
    }

    private byte[] Second() => _prepared2 ??= new byte[_prepared.Length];

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PrepareInto(WeightKernel kernel, byte[] buffer, float[] input, int n, int cols)
    {
        long start = Profile is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
        int pb = kernel.PreparedBytes(cols);
        if (n >= ParallelPrepareRows)
        {
            (_jobKernel, _jobInput, _jobBuffer, _jobCols, _jobPb) = (kernel, input, buffer, cols, pb);
            _pool.ParallelFor(n, _prepareBody);
            (_jobKernel, _jobInput, _jobBuffer) = (null, null, null);
        }
        else
            for (int i = 0; i < n; i++) kernel.Prepare(input.AsSpan(i * cols, cols), buffer.AsSpan(i * pb, pb));
        if (Profile is not null) Profile.MovePrepare(System.Diagnostics.Stopwatch.GetTimestamp() - start);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PrepareRows(int begin, int end, int thread)
    {
        for (int i = begin; i < end; i++)
            _jobKernel!.Prepare(_jobInput.AsSpan(i * _jobCols, _jobCols), _jobBuffer.AsSpan(i * _jobPb, _jobPb));
    }
}
