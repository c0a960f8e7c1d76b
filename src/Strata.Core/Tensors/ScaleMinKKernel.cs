using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Strata.Tensors;

/// <summary>Where the parts of a Q4_K / Q5_K super-block lie; Q5_K adds a fifth bit per quant in qh.</summary>
internal interface IScaleMinKFormat : IKFormat
{
    static abstract int ScalesOffset { get; }
    static abstract int DMinOffset { get; }
    static abstract int QsOffset { get; }
    /// <summary>Offset of the fifth-bit plane, or -1 when the type has none.</summary>
    static abstract int QhOffset { get; }
}

/// <summary>
/// Q4_K / Q5_K × Q8_K straight from the packed super-block (ggml's vec_dot_q4_K_q8_K and _q5_K_): each 32-byte chunk
/// of nibbles is two 32-element sub-blocks (with Q5_K's fifth bits added from qh in registers), multiplied against
/// the activations as they lie and weighted by the sub-block scales in the int16→int32 step; the mins meet the
/// activations' 16-element sums. Nothing is unpacked to memory and the float sums stay in vectors until the row ends.
/// The generic K-quant path stays as the scalar twin.
/// </summary>
internal sealed unsafe class ScaleMinKKernel<T> : KQuantKernel<T> where T : struct, IScaleMinKFormat
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override float DotRow(byte* w, byte* x, int cols)
    {
        if (!Kernels.Int256) return base.DotRow(w, x, cols);
        var L = new Q8KLayout(cols);
        float* xds = (float*)(x + L.DOff);
        short* bsums = (short*)(x + L.BsumOff);
        Vector256<float> accScaled = default, accMin = default;
        for (int b = 0; b < L.Blocks; b++)
        {
            byte* blk = w + b * T.Bytes;
            // The 12 scale bytes hold eight 6-bit scales and eight 6-bit mins (ggml's get_scale_min_k4, four at a time).
            byte* sm = blk + T.ScalesOffset;
            uint u0 = *(uint*)sm, u1 = *(uint*)(sm + 4), u2 = *(uint*)(sm + 8);
            ulong scales = (u0 & 0x3f3f3f3fu) | (ulong)((u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4)) << 32;
            ulong mins = (u1 & 0x3f3f3f3fu) | (ulong)(((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4)) << 32;

            sbyte* xq = (sbyte*)x + 256 * b;
            byte* qs = blk + T.QsOffset;
            var qh = T.QhOffset >= 0 ? Vector256.Load(blk + T.QhOffset) : default;
            var acc = Vector256<int>.Zero;
            for (int c = 0; c < 4; c++)
            {
                var (lo, hi) = KUnpack.ScaleMinQuants(qs, c, qh, T.QhOffset >= 0);
                var plo = Avx2.MultiplyAddAdjacent(lo, Vector256.Load(xq + 64 * c));
                var phi = Avx2.MultiplyAddAdjacent(hi, Vector256.Load(xq + 64 * c + 32));
                acc += Avx2.MultiplyAddAdjacent(plo, Vector256.Create((short)(byte)(scales >> (16 * c))));
                acc += Avx2.MultiplyAddAdjacent(phi, Vector256.Create((short)(byte)(scales >> (16 * c + 8))));
            }
            // Each min meets the two 16-element activation sums of its sub-block: [m0,m0,m1,m1,...] · bsums.
            var m = Vector128.CreateScalar(mins).AsByte();
            var minPairs = Avx2.ConvertToVector256Int16(Sse2.UnpackLow(m, m));
            var summ = Avx2.MultiplyAddAdjacent(minPairs, Vector256.Load(bsums + 16 * b));
            float xd = xds[b];
            accScaled = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(acc), Vector256.Create(xd * KUnpack.Half(blk)), accScaled);
            accMin = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(summ), Vector256.Create(xd * KUnpack.Half(blk + T.DMinOffset)), accMin);
        }
        return Vector256.Sum(accScaled - accMin);
    }
}
