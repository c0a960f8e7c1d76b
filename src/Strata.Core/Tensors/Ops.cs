using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Strata.Tensors;

/// <summary>
/// Element-wise ops of the forward pass, with ggml's arithmetic (sums of squares and softmax sums in double).
/// Vectorized; <see cref="OpsScalar"/> holds the scalar twins (also used when <see cref="Kernels.ForceScalar"/> is set).
/// </summary>
public static class Ops
{
    /// <summary>output = x / sqrt(mean(x²) + eps) * weight (ggml_rms_norm followed by ggml_mul).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> output)
    {
        CheckLengths(x.Length, weight.Length, output.Length);
        if (Kernels.ForceScalar || !Vector256.IsHardwareAccelerated) { OpsScalar.RmsNorm(x, weight, eps, output); return; }
        int n = x.Length, i = 0;
        var acc = Vector256<double>.Zero;
        for (; i + 8 <= n; i += 8)
        {
            var v = Vector256.Create(x[i..]);
            var (lo, hi) = Vector256.Widen(v * v);
            acc += lo + hi;
        }
        double sum = Vector256.Sum(acc);
        for (; i < n; i++) sum += x[i] * x[i];
        float scale = 1.0f / MathF.Sqrt((float)(sum / n) + eps);
        var s = Vector256.Create(scale);
        for (i = 0; i + 8 <= n; i += 8) (Vector256.Create(x[i..]) * s * Vector256.Create(weight[i..])).CopyTo(output[i..]);
        for (; i < n; i++) output[i] = x[i] * scale * weight[i];
    }

    /// <summary>In-place softmax: exp(x - max) summed in double, then scaled by 1/sum (ggml_vec_soft_max_f32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Softmax(Span<float> x)
    {
        if (Kernels.ForceScalar || !Vector256.IsHardwareAccelerated) { OpsScalar.Softmax(x); return; }
        int n = x.Length, i = 0;
        if (n == 0) return;
        var vmax = Vector256.Create(float.NegativeInfinity);
        for (; i + 8 <= n; i += 8) vmax = Vector256.Max(vmax, Vector256.Create(x[i..]));
        float max = float.NegativeInfinity;
        for (int l = 0; l < 8; l++) max = MathF.Max(max, vmax[l]);
        for (; i < n; i++) max = MathF.Max(max, x[i]);
        var m = Vector256.Create(max);
        var acc = Vector256<double>.Zero;
        for (i = 0; i + 8 <= n; i += 8)
        {
            var e = Vector256.Exp(Vector256.Create(x[i..]) - m);
            e.CopyTo(x[i..]);
            var (lo, hi) = Vector256.Widen(e);
            acc += lo + hi;
        }
        double sum = Vector256.Sum(acc);
        for (; i < n; i++) { float e = MathF.Exp(x[i] - max); x[i] = e; sum += e; }
        Scale(x, (float)(1.0 / sum));
    }

    /// <summary>In-place x *= s.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scale(Span<float> x, float s)
    {
        int i = 0;
        if (!Kernels.ForceScalar && Vector256.IsHardwareAccelerated)
            for (var v = Vector256.Create(s); i + 8 <= x.Length; i += 8) (Vector256.Create(x[i..]) * v).CopyTo(x[i..]);
        for (; i < x.Length; i++) x[i] *= s;
    }

    /// <summary>output = x / (1 + exp(-x)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Silu(ReadOnlySpan<float> x, Span<float> output)
    {
        CheckLengths(x.Length, x.Length, output.Length);
        int i = 0;
        if (!Kernels.ForceScalar && Vector256.IsHardwareAccelerated)
            for (; i + 8 <= x.Length; i += 8)
            {
                var v = Vector256.Create(x[i..]);
                (v / (Vector256<float>.One + Vector256.Exp(-v))).CopyTo(output[i..]);
            }
        for (; i < x.Length; i++) output[i] = OpsScalar.Silu(x[i]);
    }

    /// <summary>output = silu(gate) * up.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        CheckLengths(gate.Length, up.Length, output.Length);
        int i = 0;
        if (!Kernels.ForceScalar && Vector256.IsHardwareAccelerated)
            for (; i + 8 <= gate.Length; i += 8)
            {
                var g = Vector256.Create(gate[i..]);
                (g / (Vector256<float>.One + Vector256.Exp(-g)) * Vector256.Create(up[i..])).CopyTo(output[i..]);
            }
        for (; i < gate.Length; i++) output[i] = OpsScalar.Silu(gate[i]) * up[i];
    }

    /// <summary>output = a + b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> output)
    {
        CheckLengths(a.Length, b.Length, output.Length);
        int i = 0;
        if (!Kernels.ForceScalar && Vector256.IsHardwareAccelerated)
            for (; i + 8 <= a.Length; i += 8) (Vector256.Create(a[i..]) + Vector256.Create(b[i..])).CopyTo(output[i..]);
        for (; i < a.Length; i++) output[i] = a[i] + b[i];
    }

    /// <summary>output = a * b element-wise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Mul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> output)
    {
        CheckLengths(a.Length, b.Length, output.Length);
        int i = 0;
        if (!Kernels.ForceScalar && Vector256.IsHardwareAccelerated)
            for (; i + 8 <= a.Length; i += 8) (Vector256.Create(a[i..]) * Vector256.Create(b[i..])).CopyTo(output[i..]);
        for (; i < a.Length; i++) output[i] = a[i] * b[i];
    }

    internal static void CheckLengths(int a, int b, int output)
    {
        if (a != b || output < a) throw new ArgumentException($"length mismatch: {a}, {b}, output {output}");
    }
}

/// <summary>Scalar twins of <see cref="Ops"/>, written the way ggml's reference loops are.</summary>
public static class OpsScalar
{
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> output)
    {
        Ops.CheckLengths(x.Length, weight.Length, output.Length);
        double sum = 0;
        foreach (float v in x) sum += v * v;
        float scale = 1.0f / MathF.Sqrt((float)(sum / x.Length) + eps);
        for (int i = 0; i < x.Length; i++) output[i] = x[i] * scale * weight[i];
    }

    public static void Softmax(Span<float> x)
    {
        float max = float.NegativeInfinity;
        foreach (float v in x) max = MathF.Max(max, v);
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            float e = MathF.Exp(x[i] - max);
            x[i] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (int i = 0; i < x.Length; i++) x[i] *= inv;
    }

    public static float Silu(float x) => x / (1.0f + MathF.Exp(-x));

    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        Ops.CheckLengths(gate.Length, up.Length, output.Length);
        for (int i = 0; i < gate.Length; i++) output[i] = Silu(gate[i]) * up[i];
    }
}
