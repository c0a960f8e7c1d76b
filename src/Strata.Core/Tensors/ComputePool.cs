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

    // current job: either a ParallelFor body or a matmul
    private Action<int, int, int>? _body;
    private int _count;
    private WeightKernel? _kernel;
    private byte* _w, _prepared;
    private float* _y;
    private long _rowBytes;
    private int _cols, _n, _yStride, _chunkRows, _chunks, _nextChunk;

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
    public void ParallelFor(int count, Action<int, int, int> body)
    {
        if (count <= 0) return;
        _body = body;
        _count = count;
        _kernel = null;
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
        _kernel = kernel;
        _body = null;
        _w = (byte*)weights;
        _prepared = (byte*)prepared;
        _y = (float*)y;
        _rowBytes = GgmlTypeInfo.RowBytes(kernel.Type, cols);
        _cols = cols;
        _n = n;
        _yStride = yStride;
        // ~32 KiB of weights per chunk, at least 4 chunks per thread for balance
        int chunk;
        if (n == 1)
        {
            // Decode streams every weight once from DRAM: long contiguous runs per thread keep the hardware
            // prefetchers going (32 KiB chunks measured 30 % slower); four per thread still even out a slow thread.
            chunk = Math.Max(4, (rows + 4 * Threads - 1) / (4 * Threads));
        }
        else
        {
            chunk = (int)Math.Clamp(32768 / Math.Max(1, _rowBytes), 4, 256);
            while (chunk > 4 && (rows + chunk - 1) / chunk < 4 * Threads) chunk /= 2;
        }
        // Kernels over interleaved layouts need chunks that start on their row groups.
        int group = kernel.RowGroup;
        chunk = (chunk + group - 1) / group * group;
        _chunkRows = chunk;
        _chunks = (rows + chunk - 1) / chunk;
        _count = rows;
        _nextChunk = 0;
        Run();
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
        _kernel = null;
        var e = _error;
        if (e != null) ExceptionDispatchInfo.Throw(e);
    }

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

    private void Work(int index)
    {
        try
        {
            if (_kernel != null) MatMulChunks();
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

    private void MatMulChunks()
    {
        var kernel = _kernel!;
        int c;
        while ((c = Interlocked.Increment(ref _nextChunk) - 1) < _chunks)
        {
            int rs = c * _chunkRows, re = Math.Min(_count, rs + _chunkRows);
            // the kernel sees a matrix starting at row rs, so spans stay under 2 GiB for any weight size
            var w = new ReadOnlySpan<byte>(_w + rs * _rowBytes, checked((int)((re - rs) * _rowBytes)));
            int pb = kernel.PreparedBytes(_cols);
            var p = new ReadOnlySpan<byte>(_prepared, checked(pb * _n));
            if (_n == 1) kernel.DotRows(w, _cols, p, new Span<float>(_y + rs, re - rs), 0, re - rs);
            else kernel.DotRowsBatch(w, _cols, p, _n, new Span<float>(_y + rs, checked((_n - 1) * _yStride + re - rs)), _yStride, 0, re - rs);
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
