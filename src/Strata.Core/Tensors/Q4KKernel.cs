using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>
/// Q4_K × Q8_K straight from the packed super-block (ggml's vec_dot_q4_K_q8_K): each 32-byte chunk of nibbles is two
/// 32-element sub-blocks, multiplied against the activations as they lie and weighted by the sub-block scales in the
/// int16→int32 step; the mins meet the activations' 16-element sums. Nothing is unpacked to memory and the float
/// sums stay in vectors until the row ends. The generic K-quant path stays as the scalar twin.
/// </summary>
internal sealed unsafe class Q4KKernel : KQuantKernel<Q4KFormat>
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override float DotRow(byte* w, byte* x, int cols)
    {
        if (!Kernels.Int256) return base.DotRow(w, x, cols);
        var L = new Q8KLayout(cols);
        float* xds = (float*)(x + L.DOff);
        short* bsums = (short*)(x + L.BsumOff);
        var low4 = Vector256.Create((byte)0x0F);
        Vector256<float> accScaled = default, accMin = default;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = w + b * 144;
            // The 12 scale bytes hold eight 6-bit scales and eight 6-bit mins (ggml's get_scale_min_k4, four at a time).
            uint u0 = *(uint*)(blk + BlockLayout.Q4_K_Scales), u1 = *(uint*)(blk + BlockLayout.Q4_K_Scales + 4), u2 = *(uint*)(blk + BlockLayout.Q4_K_Scales + 8);
            ulong scales = (u0 & 0x3f3f3f3fu) | (ulong)((u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4)) << 32;
            ulong mins = (u1 & 0x3f3f3f3fu) | (ulong)(((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4)) << 32;

            sbyte* xq = (sbyte*)x + 256 * b;
            byte* qs = blk + BlockLayout.Q4_K_Qs;
            var acc = Vector256<int>.Zero;
            for (int c = 0; c < 4; c++)
            {
                var q = Vector256.Load(qs + 32 * c);
                var plo = Avx2.MultiplyAddAdjacent(q & low4, Vector256.Load(xq + 64 * c));
                var phi = Avx2.MultiplyAddAdjacent((q.AsUInt16() >> 4).AsByte() & low4, Vector256.Load(xq + 64 * c + 32));
                acc += Avx2.MultiplyAddAdjacent(plo, Vector256.Create((short)(byte)(scales >> (16 * c))));
                acc += Avx2.MultiplyAddAdjacent(phi, Vector256.Create((short)(byte)(scales >> (16 * c + 8))));
            }
            // Each min meets the two 16-element activation sums of its sub-block: [m0,m0,m1,m1,...] · bsums.
            var m = Vector128.CreateScalar(mins).AsByte();
            var minPairs = Avx2.ConvertToVector256Int16(Sse2.UnpackLow(m, m));
            var summ = Avx2.MultiplyAddAdjacent(minPairs, Vector256.Load(bsums + 16 * b));
            float xd = xds[b];
            accScaled = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(acc), Vector256.Create(xd * KUnpack.Half(blk)), accScaled);
            accMin = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(summ), Vector256.Create(xd * KUnpack.Half(blk + BlockLayout.Q4_K_DMin)), accMin);
        }
        return Vector256.Sum(accScaled - accMin);
    }
}
