using System.Diagnostics;
using System.Runtime.Intrinsics;

namespace Strata.Bench;

/// <summary>
/// <c>subnormal-fma</c>: what float subnormal operands cost one core's fused multiply-adds. 4096 weights (a share of
/// them subnormal) times 4096 activations, four accumulator chains, best of 200 passes; ns per vector FMA. AMD cores
/// take subnormals at full speed; Intel cores take a microcode assist per instruction, which is why the F16 tiles
/// widen halves without ever forming a float subnormal (docs/PERFORMANCE.md, 2026-12-06).
/// </summary>
public static class SubnormalFmaBench
{
    public static unsafe int Run(string[] args)
    {
        const int n = 4096;
        var rng = new Random(1);
        var w = new float[n];
        var x = new float[n];
        for (int i = 0; i < n; i++) { w[i] = (float)(rng.NextDouble() * 2 - 1); x[i] = (float)rng.NextDouble(); }
        Console.WriteLine($"512-bit vectors accelerated: {Vector512.IsHardwareAccelerated}");
        foreach (var share in new[] { 0.0, 0.0024, 0.05 })
        {
            var ww = (float[])w.Clone();
            int subnormal = 0;
            for (int i = 0; i < n; i++)
                if (rng.NextDouble() < share) { ww[i] = BitConverter.Int32BitsToSingle(rng.Next(1, 0x7fffff)); subnormal++; }
            double best = double.MaxValue;
            float sink = 0;
            fixed (float* pw = ww, px = x)
                for (int rep = 0; rep < 200; rep++)
                {
                    Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    var sw = Stopwatch.StartNew();
                    for (int i = 0; i < n; i += 16)
                    {
                        var v = Vector512.Load(pw + i);
                        var xv = Vector512.Load(px + i);
                        a0 = Vector512.FusedMultiplyAdd(v, xv, a0);
                        a1 = Vector512.FusedMultiplyAdd(v, xv, a1);
                        a2 = Vector512.FusedMultiplyAdd(v, xv, a2);
                        a3 = Vector512.FusedMultiplyAdd(v, xv, a3);
                    }
                    best = Math.Min(best, sw.Elapsed.TotalNanoseconds);
                    sink += Vector512.Sum(a0 + a1 + a2 + a3);
                }
            Console.WriteLine($"subnormal share {share:P2} ({subnormal} of {n}): {best / (n / 16 * 4):F2} ns per vector FMA (sum {sink:G3})");
        }
        return 0;
    }
}
