using Strata.Tensors;

namespace Strata.Tests.Tensors;

public class OpsTests
{
    private static readonly int[] Sizes = [1, 7, 8, 33, 64, 2048, 2051];

    [Fact]
    public void RmsNormMatchesScalarAndFloat64()
    {
        foreach (int n in Sizes)
        {
            var x = TestData.Gaussian(n, n);
            var w = TestData.Gaussian(n, n + 1);
            var a = new float[n];
            var b = new float[n];
            Ops.RmsNorm(x, w, 1e-5f, a);
            OpsScalar.RmsNorm(x, w, 1e-5f, b);
            double ms = x.Sum(v => (double)v * v) / n;
            double scale = 1 / Math.Sqrt(ms + 1e-5);
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(b[i], a[i], 1e-6f * Math.Abs(b[i]) + 1e-30f);
                Assert.Equal(x[i] * scale * w[i], a[i], 3e-6 * Math.Abs(a[i]) + 1e-30);
            }
        }
    }

    [Fact]
    public void SoftmaxMatchesScalarAndFloat64()
    {
        foreach (int n in Sizes)
        {
            var x = TestData.Gaussian(n, n, 4);
            var a = (float[])x.Clone();
            var b = (float[])x.Clone();
            Ops.Softmax(a);
            OpsScalar.Softmax(b);
            double max = x.Max(), sum = x.Sum(v => Math.Exp(v - max));
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(b[i], a[i], 2e-6f * b[i] + 1e-30f);
                Assert.Equal(Math.Exp(x[i] - max) / sum, a[i], 1e-5 * a[i] + 1e-30); // x - max is rounded in float, as in ggml
            }
            Assert.Equal(1.0, a.Sum(v => (double)v), 1e-5);
        }
    }

    [Fact]
    public void SiluSwiGluAddMul()
    {
        foreach (int n in Sizes)
        {
            var g = TestData.Gaussian(n, n, 3);
            var u = TestData.Gaussian(n, n + 5);
            var s = new float[n];
            var sw = new float[n];
            var sws = new float[n];
            var add = new float[n];
            var mul = new float[n];
            Ops.Silu(g, s);
            Ops.SwiGlu(g, u, sw);
            OpsScalar.SwiGlu(g, u, sws);
            Ops.Add(g, u, add);
            Ops.Mul(g, u, mul);
            for (int i = 0; i < n; i++)
            {
                double silu = g[i] / (1 + Math.Exp(-g[i]));
                Assert.Equal(silu, s[i], 2e-6 * Math.Abs(silu) + 1e-30);
                Assert.Equal(sws[i], sw[i], 2e-6f * Math.Abs(sws[i]) + 1e-30f);
                Assert.Equal(silu * u[i], sw[i], 3e-6 * Math.Abs(sw[i]) + 1e-30);
                Assert.Equal(g[i] + u[i], add[i]);
                Assert.Equal(g[i] * u[i], mul[i]);
            }
        }
    }

    [Fact]
    public void LengthMismatchThrows()
    {
        Assert.Throws<ArgumentException>(() => Ops.Add(new float[3], new float[4], new float[4]));
        Assert.Throws<ArgumentException>(() => Ops.RmsNorm(new float[3], new float[2], 1e-5f, new float[3]));
    }
}
