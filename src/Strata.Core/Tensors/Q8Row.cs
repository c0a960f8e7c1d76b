using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>
/// Float·Q8_0 vector kernels for attention over the q8_0 KV cache: a dot product with a K row and y += a·(V row).
/// A row is ggml Q8_0 blocks (f16 scale d, then 32 int8 q; value = d·q). The float side stays float (no activation
/// quantization), so the only error is the cache's own rounding. SIMD: per block, 4 × 8 int8 widened to int32 then
/// float (vpmovsxbd, vcvtdq2ps) and fused multiply-adds; each kernel has a scalar twin used by tests and where AVX2 is
/// missing. Axpy's twin uses the same fused multiply-add per element, so the two agree bit for bit.
/// </summary>
public static unsafe class Q8Row
{
    private const int Block = 32, BlockBytes = 34;

    /// <summary>Σ x[i]·value[i] over one row of Q8_0 blocks (x.Length / 32 of them).</summary>
    public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<byte> blocks)
    {
        int nb = Check(x.Length, blocks.Length);
        if (!Avx2.IsSupported) return DotScalar(x, blocks);
        fixed (float* xp = x)
        fixed (byte* bp = blocks)
        {
            var acc = Vector256<float>.Zero;
            for (int b = 0; b < nb; b++)
            {
                byte* blk = bp + b * BlockBytes;
                sbyte* q = (sbyte*)(blk + 2);
                float* xb = xp + b * Block;
                // the block's partial sums in float, scaled once by d
                var p = Vector256.Load(xb) * Widen(q);
                p = Vector256.FusedMultiplyAdd(Vector256.Load(xb + 8), Widen(q + 8), p);
                p = Vector256.FusedMultiplyAdd(Vector256.Load(xb + 16), Widen(q + 16), p);
                p = Vector256.FusedMultiplyAdd(Vector256.Load(xb + 24), Widen(q + 24), p);
                acc = Vector256.FusedMultiplyAdd(p, Vector256.Create(HalfBits.ToSingleFast(*(ushort*)blk)), acc);
            }
            return Vector256.Sum(acc);
        }
    }

    /// <summary>y += a · values of one row of Q8_0 blocks.</summary>
    public static void Axpy(float a, ReadOnlySpan<byte> blocks, Span<float> y)
    {
        int nb = Check(y.Length, blocks.Length);
        if (!Avx2.IsSupported) { AxpyScalar(a, blocks, y); return; }
        fixed (float* yp = y)
        fixed (byte* bp = blocks)
        {
            for (int b = 0; b < nb; b++)
            {
                byte* blk = bp + b * BlockBytes;
                sbyte* q = (sbyte*)(blk + 2);
                float* yb = yp + b * Block;
                var s = Vector256.Create(a * HalfBits.ToSingleFast(*(ushort*)blk)); // a·d: one multiply per value after
                for (int k = 0; k < Block; k += 8)
                    Vector256.FusedMultiplyAdd(s, Widen(q + k), Vector256.Load(yb + k)).Store(yb + k);
            }
        }
    }

    /// <summary>The row's values as floats: d·q per element (exact in f32).</summary>
    public static void Widen(ReadOnlySpan<byte> blocks, Span<float> y)
    {
        int nb = Check(y.Length, blocks.Length);
        if (!Avx2.IsSupported)
        {
            for (int b = 0; b < nb; b++)
            {
                float d = HalfBits.ToSingleFast(MemoryMarshal.Read<ushort>(blocks[(b * BlockBytes)..]));
                for (int j = 0; j < Block; j++) y[b * Block + j] = d * (sbyte)blocks[b * BlockBytes + 2 + j];
            }
            return;
        }
        fixed (float* yp = y)
        fixed (byte* bp = blocks)
        {
            for (int b = 0; b < nb; b++)
            {
                byte* blk = bp + b * BlockBytes;
                sbyte* q = (sbyte*)(blk + 2);
                var d = Vector256.Create(HalfBits.ToSingleFast(*(ushort*)blk));
                for (int k = 0; k < Block; k += 8) (d * Widen(q + k)).Store(yp + b * Block + k);
            }
        }
    }

    /// <summary>Scalar twin of <see cref="Dot"/> (same per-block scaling, sequential sums).</summary>
    public static float DotScalar(ReadOnlySpan<float> x, ReadOnlySpan<byte> blocks)
    {
        int nb = Check(x.Length, blocks.Length);
        float sum = 0;
        for (int b = 0; b < nb; b++)
        {
            var blk = blocks.Slice(b * BlockBytes, BlockBytes);
            float p = 0;
            for (int j = 0; j < Block; j++) p += x[b * Block + j] * (sbyte)blk[2 + j];
            sum += p * HalfBits.ToSingleFast(MemoryMarshal.Read<ushort>(blk));
        }
        return sum;
    }

    /// <summary>Scalar twin of <see cref="Axpy"/>; bit-identical to it.</summary>
    public static void AxpyScalar(float a, ReadOnlySpan<byte> blocks, Span<float> y)
    {
        int nb = Check(y.Length, blocks.Length);
        for (int b = 0; b < nb; b++)
        {
            var blk = blocks.Slice(b * BlockBytes, BlockBytes);
            float s = a * HalfBits.ToSingleFast(MemoryMarshal.Read<ushort>(blk));
            for (int j = 0; j < Block; j++) y[b * Block + j] = MathF.FusedMultiplyAdd(s, (sbyte)blk[2 + j], y[b * Block + j]);
        }
    }

    /// <summary>Values → Q8_0 blocks with ggml's reference rounding (<see cref="Quantize"/>), the bytes ggml writes.</summary>
    public static void Quantize(ReadOnlySpan<float> x, Span<byte> blocks)
    {
        Check(x.Length, blocks.Length);
        Tensors.Quantize.Row(GgmlType.Q8_0, x, blocks);
    }

    private static int Check(int values, int bytes)
    {
        if (values % Block != 0 || bytes != values / Block * BlockBytes)
            throw new ArgumentException($"{values} values and {bytes} bytes are not a row of Q8_0 blocks");
        return values / Block;
    }

    /// <summary>8 int8 → 8 floats (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Widen(sbyte* q) => Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q));
}
