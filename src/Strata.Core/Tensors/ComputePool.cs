using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace Strata.Tensors;

/// <summary>
/// Persistent worker threads for the matmuls and other row-parallel work. The calling thread takes part as
/// thread 0. Workers spin briefly between jobs (decode issues them back to back), then sleep on a semaphore.
/// Calls must come from one thread at a time; no allocation per call.
/// </summary>
public sealed unsafe class ComputePool : IDisposable
{
    private const int SpinIterations = 20000;

    private readonly Thread[] _workers;
    private readonly SemaphoreSlim[] _wake;
    private int _generation;
    private int _running;          // workers still busy with the current job
    private volatile bool _disposed;
    private Exception? _error;

    // current job: either a ParallelFor body or up to MaxParts matmuls over one input, their chunks in one queue
    public const int MaxParts = 3;
    private Action<int, int, int>? _body;
    private int _count;
    private bool _matmul;
    private readonly WeightKernel?[] _pk = new WeightKernel?[MaxParts];
    private readonly nint[] _pw = new nint[MaxParts], _pp = new nint[MaxParts], _py = new nint[MaxParts];
    private readonly long[] _prb = new long[MaxParts];
    private readonly int[] _prows = new int[MaxParts], _pstride = new int[MaxParts], _pchunk = new int[MaxParts], _pend = new int[MaxParts];
    private int _parts, _cols, _n, _chunks, _nextChunk;

    // Below this many weight bytes a single-row matmul runs on the calling thread: waking the workers costs more.
    private const long InlineBytes = 32 << 10;

    public ComputePool(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads));
        Threads = threads;
        _workers = new Thread[threads - 1];
        _wake = new SemaphoreSlim[threads - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            _wake[i] = new SemaphoreSlim(0);
            int index = i + 1;
            _workers[i] = new Thread(() => WorkerLoop(index)) { IsBackground = true, Name = $"strata-compute-{index}" };
            _workers[i].Start();
        }
    }

    /// <summary>Threads taking part in each job, the caller included.</summary>
    public int Threads { get; }

    /// <summary>
    /// Splits [0, count) into <see cref="Threads"/> contiguous ranges and runs body(start, end, threadIndex) on each
    /// in parallel. Pass a cached delegate to avoid allocating.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ParallelFor(int count, Action<int, int, int> body)
    {
        if (count <= 0) return;
        _body = body;
        _count = count;
        _matmul = false;
        Run();
    }

    /// <summary>
    /// y = W·x for n prepared activation rows: y[b*yStride + r] for r &lt; rows (n = 1: y[r]). W is rows x cols of the
    /// kernel's type at <paramref name="weights"/> (e.g. inside a memory-mapped file); <paramref name="prepared"/>
    /// holds n rows of kernel.PreparedBytes(cols) bytes. Rows are dealt out in chunks to the threads.
    /// </summary>
    public void MatMul(WeightKernel kernel, nint weights, int rows, int cols, nint prepared, int n, nint y, int yStride)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        if (rows <= 0 || n <= 0) return;
        _parts = 0;
        AddPart(kernel, weights, rows, cols, prepared, y, yStride, n);
        RunMatMul(cols, n);
    }

    /// <summary>One matmul of a fused job: its own weights, prepared rows and output ([n × Rows]).</summary>
    public readonly record struct Part(WeightKernel Kernel, nint Weights, int Rows, nint Prepared, nint Output);

    /// <summary>
    /// Several matmuls over the same n input rows of <paramref name="cols"/> (q/k/v, gate/up) as one job: one wake-up
    /// and one barrier for all of them, their row chunks in one queue.
    /// </summary>
    public void MatMul(ReadOnlySpan<Part> parts, int cols, int n)
    {
        if (parts.Length is 0 or > MaxParts) throw new ArgumentException($"1 to {MaxParts} parts");
        if (n <= 0) return;
        _parts = 0;
        foreach (var p in parts)
            if (p.Rows > 0) AddPart(p.Kernel, p.Weights, p.Rows, cols, p.Prepared, p.Output, p.Rows, n);
        if (_parts > 0) RunMatMul(cols, n);
    }

    private void AddPart(WeightKernel kernel, nint weights, int rows, int cols, nint prepared, nint y, int yStride, int n)
    {
        int i = _parts++;
        long rowBytes = GgmlTypeInfo.RowBytes(kernel.Type, cols);
        int chunk;
        if (n == 1)
        {
            // Decode streams every weight once from DRAM: long contiguous runs per thread keep the hardware
            // prefetchers going (32 KiB chunks measured 30 % slower); four per thread still even out a slow thread.
            chunk = Math.Max(4, (rows + 4 * Threads - 1) / (4 * Threads));
        }
        else
        {
            // ~32 KiB of weights per chunk (or what the kernel asks), at least 4 chunks per thread for balance
            chunk = (int)Math.Clamp(kernel.BatchChunkBytes / Math.Max(1, rowBytes), 4, 256);
            while (chunk > 4 && (rows + chunk - 1) / chunk < 4 * Threads) chunk /= 2;
        }
        // Kernels over interleaved layouts need chunks that start on their row groups.
        int group = kernel.RowGroup;
        chunk = (chunk + group - 1) / group * group;
        (_pk[i], _pw[i], _prows[i], _pp[i], _py[i], _pstride[i], _prb[i], _pchunk[i]) = (kernel, weights, rows, prepared, y, yStride, rowBytes, chunk);
        _pend[i] = (i > 0 ? _pend[i - 1] : 0) + (rows + chunk - 1) / chunk;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RunMatMul(int cols, int n)
    {
        _cols = cols;
        _n = n;
        _chunks = _pend[_parts - 1];
        _nextChunk = 0;
        _body = null;
        long bytes = 0;
        for (int i = 0; i < _parts; i++) bytes += _prb[i] * _prows[i];
        if (n == 1 && bytes < InlineBytes || Threads == 1)
        {
            // Too small to split: the calling thread does it all, no wake-up, no barrier.
            _matmul = true;
            _error = null;
            try { MatMulChunks(); }
            finally { ClearParts(); }
            return;
        }
        _matmul = true;
        Run();
    }

    private void ClearParts()
    {
        _matmul = false;
        Array.Clear(_pk);
    }

    /// <summary>Span overload: the spans stay pinned for the call, which returns only when all threads are done.</summary>
    public void MatMul(WeightKernel kernel, ReadOnlySpan<byte> weights, int rows, int cols, ReadOnlySpan<byte> prepared, int n, Span<float> y, int yStride)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        if (weights.Length < GgmlTypeInfo.RowBytes(kernel.Type, cols) * rows) throw new ArgumentException("weights too short");
        if (prepared.Length < (long)kernel.PreparedBytes(cols) * n) throw new ArgumentException("prepared too short");
        if (n > 0 && y.Length < (long)(n - 1) * yStride + rows) throw new ArgumentException("y too short");
        fixed (byte* w = weights)
        fixed (byte* p = prepared)
        fixed (float* o = y)
            MatMul(kernel, (nint)w, rows, cols, (nint)p, n, (nint)o, yStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Run()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _error = null;
        Volatile.Write(ref _running, _workers.Length);
        Interlocked.Increment(ref _generation);
        for (int i = 0; i < _wake.Length; i++) _wake[i].Release();
        Work(0);
        var spin = new SpinWait();
        while (Volatile.Read(ref _running) != 0) spin.SpinOnce(sleep1Threshold: -1);
        _body = null;
        ClearParts();
        var e = _error;
        if (e != null) ExceptionDispatchInfo.Throw(e);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WorkerLoop(int index)
    {
        int seen = 0;
        var wake = _wake[index - 1];
        while (true)
        {
            int spins = 0;
            while (Volatile.Read(ref _generation) == seen && !_disposed)
            {
                if (++spins < SpinIterations) Thread.SpinWait(8);
                else wake.Wait();
            }
            if (_disposed) return;
            seen = Volatile.Read(ref _generation);
            Work(index);
            Interlocked.Decrement(ref _running);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Work(int index)
    {
        try
        {
            if (_matmul) MatMulChunks();
            else if (_body != null)
            {
                int start = (int)((long)_count * index / Threads), end = (int)((long)_count * (index + 1) / Threads);
                if (start < end) _body(start, end, index);
            }
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _error, e, null);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void MatMulChunks()
    {
        int c;
        while ((c = Interlocked.Increment(ref _nextChunk) - 1) < _chunks)
        {
            int p = 0;
            while (c >= _pend[p]) p++;
            var kernel = _pk[p]!;
            int first = p > 0 ? _pend[p - 1] : 0;
            int rs = (c - first) * _pchunk[p], re = Math.Min(_prows[p], rs + _pchunk[p]);
            long rb = _prb[p];
            // the kernel sees a matrix starting at row rs, so spans stay under 2 GiB for any weight size
            var w = new ReadOnlySpan<byte>((byte*)_pw[p] + rs * rb, checked((int)((re - rs) * rb)));
            int pb = kernel.PreparedBytes(_cols);
            var x = new ReadOnlySpan<byte>((byte*)_pp[p], checked(pb * _n));
            float* y = (float*)_py[p];
            int stride = _pstride[p];
            if (_n == 1) kernel.DotRows(w, _cols, x, new Span<float>(y + rs, re - rs), 0, re - rs);
            else kernel.DotRowsBatch(w, _cols, x, _n, new Span<float>(y + rs, checked((_n - 1) * stride + re - rs)), stride, 0, re - rs);
            if (_error != null) return;
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var s in _wake) s.Release();
        foreach (var t in _workers) t.Join();
        foreach (var s in _wake) s.Dispose();
    }
}
