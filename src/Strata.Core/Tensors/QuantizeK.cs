using System.Buffers.Binary;

namespace Strata.Tensors;

// K-quant reference quantizers: the search heuristics of ggml's quantize_row_q{2..6}_K_ref (no importance matrix).
public static partial class Quantize
{
    private const float GroupMaxEps = 1e-15f;

    /// <summary>Asymmetric (scale, min) fit of n values to 0..nmax with a grid search over the scale (make_qkx2_quants).</summary>
    private static float FitScaleMin(ReadOnlySpan<float> x, ReadOnlySpan<float> w, int nmax, Span<byte> L, out float theMin,
        float rmin, float rdelta, int nstep, bool useMad)
    {
        int n = x.Length;
        Span<byte> aux = stackalloc byte[n];
        float min = x[0], max = x[0], sumW = w[0], sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            sumW += w[i];
            sumX += w[i] * x[i];
        }
        if (min > 0) min = 0;
        if (max == min)
        {
            L[..n].Clear();
            theMin = -min;
            return 0;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Clamp(NearestInt(iscale * (x[i] - min)), 0, nmax);
            L[i] = (byte)l;
            float diff = scale * l + min - x[i];
            diff = useMad ? MathF.Abs(diff) : diff * diff;
            bestError += w[i] * diff;
        }
        if (nstep < 1)
        {
            theMin = -min;
            return scale;
        }
        for (int s = 0; s <= nstep; s++)
        {
            iscale = (rmin + rdelta * s + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(NearestInt(iscale * (x[i] - min)), 0, nmax);
                aux[i] = (byte)l;
                sumL += w[i] * l;
                sumL2 += w[i] * l * l;
                sumXL += w[i] * l * x[i];
            }
            float D = sumW * sumL2 - sumL * sumL;
            if (D > 0)
            {
                float thisScale = (sumW * sumXL - sumX * sumL) / D;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / D;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float err = 0;
                for (int i = 0; i < n; i++)
                {
                    float diff = thisScale * aux[i] + thisMin - x[i];
                    diff = useMad ? MathF.Abs(diff) : diff * diff;
                    err += w[i] * diff;
                }
                if (err < bestError)
                {
                    aux[..n].CopyTo(L);
                    bestError = err;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin = -min;
        return scale;
    }

    /// <summary>The element of largest magnitude (the first on ties) and that magnitude.</summary>
    private static (float Max, float AbsMax) SignedAbsMax(ReadOnlySpan<float> x)
    {
        float max = 0, amax = 0;
        foreach (float v in x)
        {
            float av = MathF.Abs(v);
            if (av > amax) { amax = av; max = v; }
        }
        return (max, amax);
    }

    /// <summary>
    /// Rounds x·iscale to -nmax..nmax-1 and returns Σw·x·l and Σw·l² with w = x²; stores l+offset in L unless L is
    /// empty. One loop for every symmetric fit, so they sum in the same order as ggml's.
    /// </summary>
    private static (float SumLx, float SumL2) RoundAndWeigh(ReadOnlySpan<float> x, float iscale, int nmax, Span<sbyte> L, int offset)
    {
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < x.Length; i++)
        {
            int l = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
            if (!L.IsEmpty) L[i] = (sbyte)(l + offset);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        return (sumlx, suml2);
    }

    /// <summary>Symmetric fit to -nmax..nmax-1 weighted by x², with a scale grid search (make_qx_quants, rmse_type 1). L gets l+nmax.</summary>
    private static float FitSymmetric(ReadOnlySpan<float> x, int nmax, Span<sbyte> L)
    {
        int n = x.Length;
        var (max, amax) = SignedAbsMax(x);
        if (amax < GroupMaxEps)
        {
            L[..n].Clear();
            return 0;
        }
        var (sumlx, suml2) = RoundAndWeigh(x, -nmax / max, nmax, L, offset: nmax);
        float scale = suml2 != 0 ? sumlx / suml2 : 0;
        float best = scale * sumlx;
        for (int s = -9; s <= 9; s++)
        {
            if (s == 0) continue;
            float iscale = -(nmax + 0.1f * s) / max;
            (sumlx, suml2) = RoundAndWeigh(x, iscale, nmax, default, 0);
            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < n; i++)
                    L[i] = (sbyte)(nmax + Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1));
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /// <summary>Symmetric 3-bit fit with coordinate-descent refinement (make_q3_quants, do_rmse). L gets l+nmax.</summary>
    private static float FitQ3(ReadOnlySpan<float> x, int nmax, Span<sbyte> L)
    {
        int n = x.Length;
        var (max, amax) = SignedAbsMax(x);
        if (amax < GroupMaxEps)
        {
            L[..n].Clear();
            return 0;
        }
        var (sumlx, suml2) = RoundAndWeigh(x, -nmax / max, nmax, L, offset: 0);
        for (int itry = 0; itry < 5; itry++)
        {
            int changed = 0;
            for (int i = 0; i < n; i++)
            {
                float w = x[i] * x[i];
                float slx = sumlx - w * x[i] * L[i];
                if (slx > 0)
                {
                    float sl2 = suml2 - w * L[i] * L[i];
                    int nl = Math.Clamp(NearestInt(x[i] * sl2 / slx), -nmax, nmax - 1);
                    if (nl != L[i])
                    {
                        slx += w * x[i] * nl;
                        sl2 += w * nl * nl;
                        if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2)
                        {
                            L[i] = (sbyte)nl; sumlx = slx; suml2 = sl2;
                            changed++;
                        }
                    }
                }
            }
            if (changed == 0) break;
        }
        for (int i = 0; i < n; i++) L[i] = (sbyte)(L[i] + nmax);
        return suml2 > 0 ? sumlx / suml2 : 0;
    }

    private static float GetHalf(Span<byte> y, int o) => HalfBits.ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(y[o..]));

    /// <summary>Packs 256 2-bit values: byte l of each 32-byte group holds elements l, l+32, l+64, l+96 of its 128-chunk.</summary>
    private static void Pack2Bit(ReadOnlySpan<byte> L, Span<byte> qs)
    {
        for (int j = 0; j < 256; j += 128)
            for (int l = 0; l < 32; l++)
                qs[j / 4 + l] = (byte)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }

    private static void Q2_K(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<byte> L = stackalloc byte[256];
        Span<float> w = stackalloc float[16];
        Span<float> mins = stackalloc float[16], scales = stackalloc float[16];
        y.Clear();
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 16; j++)
        {
            var xs = x.Slice(16 * j, 16);
            for (int l = 0; l < 16; l++) w[l] = MathF.Abs(xs[l]);
            scales[j] = FitScaleMin(xs, w, 3, L.Slice(16 * j, 16), out mins[j], -0.5f, 0.1f, 15, true);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        if (maxScale > 0)
        {
            float iscale = 15f / maxScale;
            for (int j = 0; j < 16; j++) y[j] = (byte)NearestInt(iscale * scales[j]);
            PutHalf(y, BlockLayout.Q2_K_D, maxScale / 15f);
        }
        if (maxMin > 0)
        {
            float iscale = 15f / maxMin;
            for (int j = 0; j < 16; j++) y[j] |= (byte)(NearestInt(iscale * mins[j]) << 4);
            PutHalf(y, BlockLayout.Q2_K_DMin, maxMin / 15f);
        }
        float dAll = GetHalf(y, BlockLayout.Q2_K_D), mAll = GetHalf(y, BlockLayout.Q2_K_DMin);
        for (int j = 0; j < 16; j++)
        {
            float d = dAll * (y[j] & 0xF);
            if (d == 0) continue;
            float dm = mAll * (y[j] >> 4);
            for (int i = 0; i < 16; i++)
                L[16 * j + i] = (byte)Math.Clamp(NearestInt((x[16 * j + i] + dm) / d), 0, 3);
        }
        Pack2Bit(L, y.Slice(BlockLayout.Q2_K_Qs, 64));
    }

    private static void Q3_K(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<sbyte> L = stackalloc sbyte[256];
        Span<float> scales = stackalloc float[16];
        y.Clear();
        float maxScale = 0, amax = 0;
        for (int j = 0; j < 16; j++)
        {
            scales[j] = FitQ3(x.Slice(16 * j, 16), 4, L.Slice(16 * j, 16));
            float a = MathF.Abs(scales[j]);
            if (a > amax) { amax = a; maxScale = scales[j]; }
        }
        var sc = y.Slice(BlockLayout.Q3_K_Scales, 12);
        if (maxScale != 0)
        {
            float iscale = -32f / maxScale;
            for (int j = 0; j < 16; j++)
            {
                int l = Math.Clamp((int)(sbyte)NearestInt(iscale * scales[j]), -32, 31) + 32;
                if (j < 8) sc[j] = (byte)(l & 0xF);
                else sc[j - 8] |= (byte)((l & 0xF) << 4);
                sc[j % 4 + 8] |= (byte)((l >> 4) << (2 * (j / 4)));
            }
            PutHalf(y, BlockLayout.Q3_K_D, 1 / iscale);
        }
        Span<int> s = stackalloc int[16];
        BlockLayout.Q3KScales(sc, s);
        float dAll = GetHalf(y, BlockLayout.Q3_K_D);
        for (int j = 0; j < 16; j++)
        {
            float d = dAll * s[j];
            if (d == 0) continue;
            for (int i = 0; i < 16; i++)
                L[16 * j + i] = (sbyte)(Math.Clamp(NearestInt(x[16 * j + i] / d), -4, 3) + 4);
        }
        // high bit of element j goes to hmask[j % 32], bit j / 32
        var hm = y[..32];
        Span<byte> low = stackalloc byte[256];
        for (int j = 0; j < 256; j++)
        {
            int l = L[j];
            if (l > 3) { hm[j % 32] |= (byte)(1 << (j / 32)); l -= 4; }
            low[j] = (byte)l;
        }
        Pack2Bit(low, y.Slice(BlockLayout.Q3_K_Qs, 64));
    }

    /// <summary>Q4_K and Q5_K share the 8 x (scale, min) search and 6-bit packing.</summary>
    private static void FitK4K5(ReadOnlySpan<float> x, Span<byte> y, int nmax, float rmin, float rdelta, int nstep, Span<byte> L)
    {
        Span<float> w = stackalloc float[32];
        Span<float> mins = stackalloc float[8], scales = stackalloc float[8];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            var xs = x.Slice(32 * j, 32);
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) sumX2 += xs[l] * xs[l];
            float av = MathF.Sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) w[l] = av + MathF.Abs(xs[l]);
            scales[j] = FitScaleMin(xs, w, nmax, L.Slice(32 * j, 32), out mins[j], rmin, rdelta, nstep, false);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        float invScale = maxScale > 0 ? 63f / maxScale : 0f;
        float invMin = maxMin > 0 ? 63f / maxMin : 0f;
        var sc = y.Slice(4, 12);
        for (int j = 0; j < 8; j++)
        {
            int ls = Math.Min(63, (int)(byte)NearestInt(invScale * scales[j]));
            int lm = Math.Min(63, (int)(byte)NearestInt(invMin * mins[j]));
            if (j < 4)
            {
                sc[j] = (byte)ls;
                sc[j + 4] = (byte)lm;
            }
            else
            {
                sc[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                sc[j - 4] |= (byte)((ls >> 4) << 6);
                sc[j] |= (byte)((lm >> 4) << 6);
            }
        }
        PutHalf(y, 0, maxScale / 63f);
        PutHalf(y, 2, maxMin / 63f);
        float dAll = GetHalf(y, 0), mAll = GetHalf(y, 2);
        for (int j = 0; j < 8; j++)
        {
            BlockLayout.ScaleMinK4(j, sc, out int s, out int m);
            float d = dAll * s;
            if (d == 0) continue;
            float dm = mAll * m;
            for (int i = 0; i < 32; i++)
                L[32 * j + i] = (byte)Math.Clamp(NearestInt((x[32 * j + i] + dm) / d), 0, nmax);
        }
    }

    private static void Q4_K(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<byte> L = stackalloc byte[256];
        y.Clear();
        FitK4K5(x, y, 15, -1f, 0.1f, 20, L);
        var q = y.Slice(BlockLayout.Q4_K_Qs, 128);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                q[32 * c + l] = (byte)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }

    private static void Q5_K(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<byte> L = stackalloc byte[256];
        y.Clear();
        FitK4K5(x, y, 31, -0.5f, 0.1f, 15, L);
        var qh = y.Slice(BlockLayout.Q5_K_Qh, 32);
        var ql = y.Slice(BlockLayout.Q5_K_Qs, 128);
        for (int c = 0; c < 4; c++)
        {
            for (int j = 0; j < 32; j++)
            {
                int l1 = L[64 * c + j], l2 = L[64 * c + 32 + j];
                if (l1 > 15) { l1 -= 16; qh[j] |= (byte)(1 << (2 * c)); }
                if (l2 > 15) { l2 -= 16; qh[j] |= (byte)(2 << (2 * c)); }
                ql[32 * c + j] = (byte)(l1 | (l2 << 4));
            }
        }
    }

    private static void Q6_K(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<sbyte> L = stackalloc sbyte[256];
        Span<float> scales = stackalloc float[16];
        y.Clear();
        float maxScale = 0, maxAbs = 0;
        for (int j = 0; j < 16; j++)
        {
            scales[j] = FitSymmetric(x.Slice(16 * j, 16), 32, L.Slice(16 * j, 16));
            float a = MathF.Abs(scales[j]);
            if (a > maxAbs) { maxAbs = a; maxScale = scales[j]; }
        }
        if (maxAbs < GroupMaxEps) return; // all-zero block: every byte 0
        float iscale = -128f / maxScale;
        PutHalf(y, BlockLayout.Q6_K_D, 1 / iscale);
        var sc = y.Slice(BlockLayout.Q6_K_Scales, 16);
        for (int j = 0; j < 16; j++) sc[j] = (byte)(sbyte)Math.Min(127, NearestInt(iscale * scales[j]));
        float dAll = GetHalf(y, BlockLayout.Q6_K_D);
        for (int j = 0; j < 16; j++)
        {
            float d = dAll * (sbyte)sc[j];
            if (d == 0) continue;
            for (int i = 0; i < 16; i++)
                L[16 * j + i] = (sbyte)(Math.Clamp(NearestInt(x[16 * j + i] / d), -32, 31) + 32);
        }
        var ql = y[..128];
        var qh = y.Slice(BlockLayout.Q6_K_Qh, 64);
        for (int n = 0; n < 2; n++)
        {
            int j = 128 * n;
            for (int l = 0; l < 32; l++)
            {
                int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
                ql[64 * n + l] = (byte)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[64 * n + l + 32] = (byte)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[32 * n + l] = (byte)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}
