using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Strata.IO;
using Strata.Tensors;

namespace Strata.Engine;

/// <summary>
/// The machine's read bandwidth as the compute pool's threads see it: they sum a buffer larger than the last-level
/// cache, on huge pages as the repacked weights are (with 4 KiB pages every page is a TLB miss and a point where the
/// hardware prefetchers stop, which would measure less than decode itself reaches). The buffer is allocated and
/// touched once, so measures can be repeated between other work.
/// </summary>
public sealed unsafe class BandwidthProbe : IDisposable
{
    private const long LeastBytes = 512L << 20, MostBytes = 2L << 30;
    private readonly ComputePool _pool;
    private readonly long _perChunk;
    private readonly int _chunks;
    private readonly float[] _sums;
    private readonly Action<int, int, int> _body;
    private byte* _buffer;

    public BandwidthProbe(ComputePool pool, long? bytes = null)
    {
        _pool = pool;
        // Twice the last-level cache, so a pass right after another cannot be served from it (some servers' L3
        // passes 256 MiB).
        long size = bytes ?? Math.Clamp(2 * LastLevelCacheBytes(), LeastBytes, MostBytes);
        _chunks = pool.Threads * 16;
        _perChunk = size / _chunks / 64 * 64;
        _buffer = PageAdvice.AllocateForStreaming(_perChunk * _chunks);
        // Touched once so the timed passes read committed pages, not the zero page.
        for (int c = 0; c < _chunks; c++) new Span<byte>(_buffer + c * _perChunk, (int)_perChunk).Fill(1);
        _sums = new float[_chunks];
        _body = Sum;
    }

    public long Bytes => _perChunk * _chunks;

    /// <summary>GB/s, the best of <paramref name="passes"/> passes over the buffer.</summary>
    public double Measure(int passes = 2)
    {
        ObjectDisposedException.ThrowIf(_buffer == null, this);
        double best = 0;
        for (int rep = 0; rep < passes; rep++)
        {
            var sw = Stopwatch.StartNew();
            _pool.ParallelFor(_chunks, _body);
            best = Math.Max(best, Bytes / sw.Elapsed.TotalSeconds / 1e9);
        }
        return best;
    }

    private void Sum(int begin, int end, int _)
    {
        for (int c = begin; c < end; c++)
        {
            var p = (float*)(_buffer + c * _perChunk);
            long n = _perChunk / sizeof(float);
            // Four chains, so the adds' latency (3-4 cycles) never limits the reads: one chain caps a core near 32
            // bytes per add latency, close to what one core can pull from DRAM.
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            long i = 0;
            for (; i + 32 <= n; i += 32)
            {
                a0 += Vector256.Load(p + i); a1 += Vector256.Load(p + i + 8);
                a2 += Vector256.Load(p + i + 16); a3 += Vector256.Load(p + i + 24);
            }
            for (; i + 8 <= n; i += 8) a0 += Vector256.Load(p + i);
            _sums[c] = Vector256.Sum((a0 + a1) + (a2 + a3));
        }
    }

    /// <summary>The largest cache Linux reports for CPU 0 (sysfs), or 0 where it reports none.</summary>
    private static long LastLevelCacheBytes()
    {
        long largest = 0;
        try
        {
            foreach (var dir in Directory.EnumerateDirectories("/sys/devices/system/cpu/cpu0/cache", "index*"))
            {
                var text = File.ReadAllText(Path.Combine(dir, "size")).Trim();
                long unit = text.EndsWith('K') ? 1L << 10 : text.EndsWith('M') ? 1L << 20 : 1;
                if (long.TryParse(text.TrimEnd('K', 'M'), out var n)) largest = Math.Max(largest, n * unit);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return largest;
    }

    public void Dispose()
    {
        if (_buffer == null) return;
        NativeMemory.AlignedFree(_buffer);
        _buffer = null;
    }
}
