using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>F32 weights: activations stay float; 4 independent FMA accumulators.</summary>
internal sealed unsafe class F32Kernel : RowKernel
{
    public override GgmlType Type => GgmlType.F32;
    public override int PreparedBytes(int cols) => cols * 4;
    public override void Prepare(ReadOnlySpan<float> x, Span<byte> prepared) => x.CopyTo(MemoryMarshal.Cast<byte, float>(prepared));

    protected override float DotRow(byte* w, byte* x, int n)
    {
        float* a = (float*)w, b = (float*)x;
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 64 <= n; i += 64)
            {
                s0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), s0);
                s1 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 16), Vector512.Load(b + i + 16), s1);
                s2 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 32), Vector512.Load(b + i + 32), s2);
                s3 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 48), Vector512.Load(b + i + 48), s3);
            }
            for (; i + 16 <= n; i += 16) s0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), s0);
            sum = Vector512.Sum((s0 + s1) + (s2 + s3));
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 32 <= n; i += 32)
            {
                s0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 8), Vector256.Load(b + i + 8), s1);
                s2 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 16), Vector256.Load(b + i + 16), s2);
                s3 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 24), Vector256.Load(b + i + 24), s3);
            }
            for (; i + 8 <= n; i += 8) s0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), s0);
            sum = Vector256.Sum((s0 + s1) + (s2 + s3));
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            Vector128<float> s0 = default, s1 = default;
            for (; i + 8 <= n; i += 8)
            {
                s0 += Vector128.Load(a + i) * Vector128.Load(b + i);
                s1 += Vector128.Load(a + i + 4) * Vector128.Load(b + i + 4);
            }
            sum = Vector128.Sum(s0 + s1);
        }
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    protected override float DotRowScalar(byte* w, byte* x, int n)
    {
        float* a = (float*)w, b = (float*)x;
        float sum = 0;
        for (int i = 0; i < n; i++) sum += a[i] * b[i];
        return sum;
    }
}
