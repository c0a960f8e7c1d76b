using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>
/// Q6_K × Q8_K straight from the packed super-block (ggml's vec_dot_q6_K_q8_K): 6-bit quants u are rebuilt 32 at a
/// time from ql/qh in registers (<see cref="KUnpack.Q6Quants"/>), multiplied against the activations, weighted by their 16-element int8 scales in the
/// int16→int32 step; the −32 offset is −32·Σ scale·bsum. The generic K-quant path stays as the scalar twin.
/// </summary>
internal sealed unsafe class Q6KKernel : KQuantKernel<Q6KFormat>
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override float DotRow(byte* w, byte* x, int cols)
    {
        if (!Kernels.Int256) return base.DotRow(w, x, cols);
        var L = new Q8KLayout(cols);
        float* xds = (float*)(x + L.DOff);
        short* bsums = (short*)(x + L.BsumOff);
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = w + b * 210;
            sbyte* sc = (sbyte*)(blk + BlockLayout.Q6_K_Scales);
            sbyte* xq = (sbyte*)x + 256 * b;
            var sumi = Vector256<int>.Zero;
            for (int n = 0; n < 2; n++)
            {
                var (u1, u2, u3, u4) = KUnpack.Q6Quants(blk, n);
                sbyte* xs = xq + 128 * n;
                sbyte* s = sc + 8 * n;
                sumi += Scaled(u1, xs, s[0], s[1]);
                sumi += Scaled(u2, xs + 32, s[2], s[3]);
                sumi += Scaled(u3, xs + 64, s[4], s[5]);
                sumi += Scaled(u4, xs + 96, s[6], s[7]);
            }
            // q = u − 32: subtract 32·Σ_g scale_g·bsum_g.
            var scales16 = Avx2.ConvertToVector256Int16(Vector128.Load(sc));
            sumi -= Avx2.MultiplyAddAdjacent(scales16, Vector256.Load(bsums + 16 * b)) << 5;
            acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sumi), Vector256.Create(xds[b] * KUnpack.Half(blk + BlockLayout.Q6_K_D)), acc);
        }
        return Vector256.Sum(acc);
    }

    /// <summary>32 quants (two 16-element groups with scales a and b) against 32 activations.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Scaled(Vector256<byte> u, sbyte* x, sbyte a, sbyte b) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, Vector256.Load(x)),
            Vector256.Create(Vector128.Create((short)a), Vector128.Create((short)b)));
}
