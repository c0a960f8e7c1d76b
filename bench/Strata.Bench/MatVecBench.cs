using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Strata.Tensors;

namespace Strata.Bench;

/// <summary>One matrix-vector product per call; weights read once, so bytes/time is the kernel's bandwidth.</summary>
public unsafe class MatVec : IDisposable
{
    [Params(GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.F16, GgmlType.Q4_K, GgmlType.Q6_K)]
    public GgmlType Type { get; set; }

    [Params(2048, 8192)]
    public int Rows { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [Params(WeightLayout.Plain)]
    public WeightLayout Layout { get; set; }

    public const int Cols = 2048;

    private WeightKernel _k = null!;
    private byte* _w, _p;
    private float* _y;
    private ComputePool? _pool;

    public long WeightBytes => GgmlTypeInfo.RowBytes(Type, Cols) * Rows;

    [GlobalSetup]
    public void Setup()
    {
        _k = Kernels.For(Type, Layout);
        var x = new float[Cols];
        var r = new Random(1);
        for (int i = 0; i < x.Length; i++) x[i] = (float)(r.NextDouble() * 2 - 1);
        _w = (byte*)NativeMemory.AlignedAlloc((nuint)WeightBytes, 64);
        var row = new byte[GgmlTypeInfo.RowBytes(Type, Cols)];
        for (int i = 0; i < Rows; i++)
        {
            Quantize.Row(Type, x, row);
            row.CopyTo(new Span<byte>(_w + i * row.Length, row.Length));
        }
        if (Layout == WeightLayout.Interleaved8)
        {
            var plain = new Span<byte>(_w, (int)WeightBytes).ToArray();
            if (Type == GgmlType.Q4_0) Q4_0x8.Repack(plain, new Span<byte>(_w, (int)WeightBytes), Rows, Cols);
            else Q4_Kx8.Repack(plain, new Span<byte>(_w, (int)WeightBytes), Rows, Cols);
        }
        _p = (byte*)NativeMemory.AlignedAlloc((nuint)_k.PreparedBytes(Cols), 64);
        _k.Prepare(x, new Span<byte>(_p, _k.PreparedBytes(Cols)));
        _y = (float*)NativeMemory.AlignedAlloc((nuint)(Rows * 4), 64);
        _pool = new ComputePool(Threads);
    }

    [Benchmark]
    public void Run() => _pool!.MatMul(_k, (nint)_w, Rows, Cols, (nint)_p, 1, (nint)_y, Rows);

    [GlobalCleanup]
    public void Dispose()
    {
        _pool?.Dispose();
        _pool = null;
        NativeMemory.AlignedFree(_w);
        NativeMemory.AlignedFree(_p);
        NativeMemory.AlignedFree(_y);
        _w = _p = null;
        _y = null;
        GC.SuppressFinalize(this);
    }
}
