using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using Strata.Tensors;

namespace Strata.Tests.Tensors;

/// <summary>
/// ggml's own quantizers, dequantizers and dot products, called straight from the native libraries that
/// LLamaSharp.Backend.Cpu ships: the exact reference for every byte layout and rounding rule.
/// </summary>
internal static unsafe class GgmlNative
{
    private static readonly Lazy<(nint Base, nint Cpu)> Libs = new(Load);

    public static bool Available => Libs.Value.Base != 0 && Libs.Value.Cpu != 0;

    private static (nint, nint) Load()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return (0, 0);
        string flavor = Avx512F.IsSupported ? "avx512" : Avx2.IsSupported ? "avx2" : "noavx";
        string dir = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", flavor);
        if (!File.Exists(Path.Combine(dir, "libggml-base.so"))) return (0, 0);
        nint b = NativeLibrary.Load(Path.Combine(dir, "libggml-base.so"));
        nint c = NativeLibrary.Load(Path.Combine(dir, "libggml-cpu.so"));
        ((delegate* unmanaged<void>)NativeLibrary.GetExport(c, "ggml_cpu_init"))();
        return (b, c);
    }

    private static string Suffix(GgmlType t) => t.ToString().ToLowerInvariant().Replace("_k", "_K");

    /// <summary>quantize_row_*_ref from ggml-base.</summary>
    public static byte[] QuantizeRef(GgmlType type, float[] x)
    {
        var fn = (delegate* unmanaged<float*, byte*, long, void>)NativeLibrary.GetExport(Libs.Value.Base, $"quantize_row_{Suffix(type)}_ref");
        var y = new byte[GgmlTypeInfo.RowBytes(type, x.Length)];
        fixed (float* px = x) fixed (byte* py = y) fn(px, py, x.Length);
        return y;
    }

    /// <summary>dequantize_row_* from ggml-base.</summary>
    public static float[] Dequantize(GgmlType type, byte[] q, int n)
    {
        var fn = (delegate* unmanaged<byte*, float*, long, void>)NativeLibrary.GetExport(Libs.Value.Base, $"dequantize_row_{Suffix(type)}");
        var y = new float[n];
        fixed (byte* pq = q) fixed (float* py = y) fn(pq, py, n);
        return y;
    }

    /// <summary>The CPU backend's activation quantizer (quantize_row_q8_0 / q8_1 / q8_K) into ggml blocks.</summary>
    public static byte[] QuantizeActivation(string kind, float[] x)
    {
        int blockBytes = kind switch { "q8_0" => 34, "q8_1" => 36, "q8_K" => 292, _ => throw new ArgumentException(kind) };
        int qk = kind == "q8_K" ? 256 : 32;
        var fn = (delegate* unmanaged<float*, byte*, long, void>)NativeLibrary.GetExport(Libs.Value.Cpu, $"quantize_row_{kind}");
        var y = new byte[x.Length / qk * blockBytes];
        fixed (float* px = x) fixed (byte* py = y) fn(px, py, x.Length);
        return y;
    }

    /// <summary>ggml_vec_dot_{w}_{vecDotType}: one weight row against one activation row in the backend's format.</summary>
    public static float VecDot(string name, int n, byte[] w, byte[] x)
    {
        var fn = (delegate* unmanaged<int, float*, nuint, byte*, nuint, byte*, nuint, int, void>)NativeLibrary.GetExport(Libs.Value.Cpu, name);
        float s;
        fixed (byte* pw = w) fixed (byte* px = x) fn(n, &s, 0, pw, 0, px, 0, 1);
        return s;
    }
}
