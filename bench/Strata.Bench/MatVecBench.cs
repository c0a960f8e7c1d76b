using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Strata.Tensors;

namespace Strata.Bench;

/// <summary>
/// One matrix product per call over <see cref="Tokens"/> activation rows: with 1 a matrix-vector product whose
/// bytes/time is the kernel's bandwidth; with more, the matrix-matrix tiles (GFLOP/s is what they reach).
/// </summary>
public unsafe class MatVec : IDisposable
{
    /// <summary>
    /// Type and layout as one parameter ("Q4_0 x8" is the interleaved layout, "F16 rebased" the re-encoded one), so only
    /// real pairs are run.
    /// </summary>
    [ParamsSource(nameof(KernelNames))]
    public string Kernel
    {
        get => Type + Layout switch { WeightLayout.Interleaved8 => " x8", WeightLayout.RebasedF16 => " rebased", _ => "" };
        set
        {
            var parts = value.Split(' ');
            Type = Enum.Parse<GgmlType>(parts[0]);
            Layout = parts.Length == 1 ? WeightLayout.Plain : parts[1] == "rebased" ? WeightLayout.RebasedF16 : WeightLayout.Interleaved8;
        }
    }

    public static IEnumerable<string> KernelNames() =>
        new[] { GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K }
            .SelectMany(t => Strata.Weights.WeightPacker.HasInterleavedLayout(t) ? new[] { $"{t}", $"{t} x8" }
                : t == GgmlType.F16 && RebasedHalf.IsSupported ? new[] { $"{t}", $"{t} rebased" } : new[] { $"{t}" });

    public GgmlType Type { get; set; }

    [Params(2048, 8192)]
    public int Rows { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    public WeightLayout Layout { get; set; }

    [Params(1, 8, 64)]
    public int Tokens { get; set; } = 1;

    /// <summary>Elements per row: 2048 for the 1.1B shape's q/gate/up, 8192 for its down projection.</summary>
    public int Cols { get; set; } = 2048;

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
        if (Layout == WeightLayout.RebasedF16)
        {
            // x lies in [-1, 1): stored unshifted
            var plain = new Span<byte>(_w, (int)WeightBytes).ToArray();
            fixed (byte* src = plain)
                if (!RebasedHalf.TryEncode((short*)src, (short*)_w, WeightBytes / 2)) throw new InvalidOperationException("weights outside the re-encoded window");
        }
        if (Layout == WeightLayout.Interleaved8)
        {
            if (!Strata.Weights.WeightPacker.HasInterleavedLayout(Type)) throw new NotSupportedException($"{Type} has no interleaved layout");
            var plain = new Span<byte>(_w, (int)WeightBytes).ToArray();
            Strata.Weights.WeightPacker.Repack(Type, plain, new Span<byte>(_w, (int)WeightBytes), Rows, Cols);
        }
        int pb = _k.PreparedBytes(Cols);
        _p = (byte*)NativeMemory.AlignedAlloc((nuint)(pb * Tokens), 64);
        for (int t = 0; t < Tokens; t++) _k.Prepare(x, new Span<byte>(_p + t * pb, pb));
        _y = (float*)NativeMemory.AlignedAlloc((nuint)(Rows * 4 * Tokens), 64);
        _pool = new ComputePool(Threads);
    }

    [Benchmark]
    public void Run() => _pool!.MatMul(_k, (nint)_w, Rows, Cols, (nint)_p, Tokens, (nint)_y, Rows);

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
