using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Strata.Tensors;

/// <summary>
/// Float·f16 vector kernels for attention over the f16 KV cache: a dot product and y += a·x, widening f16 to f32 with
/// <see cref="HalfBits.ToSingle(Vector256{uint})"/>; each kernel has a scalar twin used for the tail and by tests.
/// </summary>
public static class HalfVector
{
    public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<Half> h)
    {
        if (x.Length != h.Length) throw new ArgumentException("length mismatch");
        int n = x.Length, i = 0;
        float sum = 0;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref ushort hr = ref Unsafe.As<Half, ushort>(ref MemoryMarshal.GetReference(h));
            var acc0 = Vector256<float>.Zero;
            var acc1 = Vector256<float>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                var (lo, hi) = Widen(Vector256.LoadUnsafe(ref hr, (nuint)i));
                acc0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i), lo, acc0);
                acc1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)(i + 8)), hi, acc1);
            }
            for (; i + 8 <= n; i += 8)
            {
                var v = HalfBits.ToSingle(Vector256.WidenLower(Vector128.LoadUnsafe(ref hr, (nuint)i).ToVector256Unsafe()));
                acc0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i), v, acc0);
            }
            sum = Vector256.Sum(acc0 + acc1);
        }
        for (; i < n; i++) sum += x[i] * (float)h[i];
        return sum;
    }

    /// <summary>y += a · h.</summary>
    public static void Axpy(float a, ReadOnlySpan<Half> h, Span<float> y)
    {
        if (y.Length != h.Length) throw new ArgumentException("length mismatch");
        int n = y.Length, i = 0;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            ref float yr = ref MemoryMarshal.GetReference(y);
            ref ushort hr = ref Unsafe.As<Half, ushort>(ref MemoryMarshal.GetReference(h));
            var va = Vector256.Create(a);
            for (; i + 16 <= n; i += 16)
            {
                var (lo, hi) = Widen(Vector256.LoadUnsafe(ref hr, (nuint)i));
                Vector256.FusedMultiplyAdd(va, lo, Vector256.LoadUnsafe(ref yr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
                Vector256.FusedMultiplyAdd(va, hi, Vector256.LoadUnsafe(ref yr, (nuint)(i + 8))).StoreUnsafe(ref yr, (nuint)(i + 8));
            }
            for (; i + 8 <= n; i += 8)
            {
                var v = HalfBits.ToSingle(Vector256.WidenLower(Vector128.LoadUnsafe(ref hr, (nuint)i).ToVector256Unsafe()));
                Vector256.FusedMultiplyAdd(va, v, Vector256.LoadUnsafe(ref yr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
            }
        }
        for (; i < n; i++) y[i] += a * (float)h[i];
    }

    /// <summary>Scalar twin of <see cref="Dot"/>.</summary>
    public static float DotScalar(ReadOnlySpan<float> x, ReadOnlySpan<Half> h)
    {
        float sum = 0;
        for (int i = 0; i < x.Length; i++) sum += x[i] * (float)h[i];
        return sum;
    }

    /// <summary>f16 → f32 for 8 or 16 values at once.</summary>
    public static void Convert(ReadOnlySpan<Half> h, Span<float> f)
    {
        int n = h.Length, i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref ushort hr = ref Unsafe.As<Half, ushort>(ref MemoryMarshal.GetReference(h));
            ref float fr = ref MemoryMarshal.GetReference(f);
            for (; i + 16 <= n; i += 16)
            {
                var (lo, hi) = Widen(Vector256.LoadUnsafe(ref hr, (nuint)i));
                lo.StoreUnsafe(ref fr, (nuint)i);
                hi.StoreUnsafe(ref fr, (nuint)(i + 8));
            }
        }
        for (; i < n; i++) f[i] = (float)h[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float> Lo, Vector256<float> Hi) Widen(Vector256<ushort> bits)
    {
        var (lo, hi) = Vector256.Widen(bits);
        return (HalfBits.ToSingle(lo), HalfBits.ToSingle(hi));
    }
}
