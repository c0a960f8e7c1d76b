using Strata.Tensors;

namespace Strata.Tests.Tensors;

public class HalfVectorTests
{
    [Fact]
    public void ConversionIsExactForEveryHalf()
    {
        var all = new Half[65536];
        for (int i = 0; i < all.Length; i++) all[i] = BitConverter.UInt16BitsToHalf((ushort)i);
        var f = new float[all.Length];
        HalfVector.Convert(all, f);
        for (int i = 0; i < all.Length; i++)
        {
            float expected = (float)all[i];
            if (float.IsNaN(expected)) Assert.True(float.IsNaN(f[i]), $"0x{i:X4}");
            else Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(f[i]), $"0x{i:X4}: {f[i]} != {expected}");
        }
    }

    [Fact]
    public void DotAndAxpyMatchScalarForEveryLength()
    {
        var rng = new Random(5);
        for (int n = 0; n <= 200; n++)
        {
            var x = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var h = Enumerable.Range(0, n).Select(_ => (Half)(rng.NextDouble() * 4 - 2)).ToArray();
            double exact = 0;
            for (int i = 0; i < n; i++) exact += x[i] * (double)(float)h[i];
            Assert.True(Math.Abs(HalfVector.Dot(x, h) - exact) <= 1e-5 * (1 + n), $"n={n}");
            Assert.True(Math.Abs(HalfVector.DotScalar(x, h) - exact) <= 1e-5 * (1 + n), $"n={n}");

            var y = x.ToArray();
            HalfVector.Axpy(0.5f, h, y);
            for (int i = 0; i < n; i++) Assert.Equal(x[i] + 0.5f * (float)h[i], y[i], 5);
        }
    }
}
