namespace Strata.Kv.Replay;

/// <summary>The distributions the generators draw from. <see cref="Random"/> with a seed is stable across runs.</summary>
internal static class TraceRandom
{
    /// <summary>An exponential gap with the given mean (Poisson arrivals, think times).</summary>
    public static double Exponential(Random rng, double mean) => -Math.Log(1 - rng.NextDouble()) * mean;

    /// <summary>A log-normal token count: prompt and reply lengths are heavy-tailed around a median.</summary>
    public static int LogNormal(Random rng, double median, double sigma, int min, int max)
    {
        // Box-Muller; 1 - u keeps the logarithm finite.
        double z = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        double v = Math.Exp(Math.Log(median) + sigma * z);
        return (int)Math.Clamp(Math.Round(v), min, max);
    }

    /// <summary>At least one, with the given mean: 1 + geometric failures with success probability 1 / mean.</summary>
    public static int Geometric(Random rng, double mean)
    {
        if (mean <= 1) return 1;
        double p = 1 / mean;
        double v = 1 + Math.Floor(Math.Log(1 - rng.NextDouble()) / Math.Log(1 - p));
        return (int)Math.Min(v, 1_000_000);
    }
}

/// <summary>Zipf popularity over ranks 0..n-1: rank r is drawn with probability proportional to 1 / (r + 1)^s.</summary>
internal sealed class Zipf
{
    private readonly double[] _cdf;

    public Zipf(int n, double exponent)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        _cdf = new double[n];
        double sum = 0;
        for (int r = 0; r < n; r++) _cdf[r] = sum += 1 / Math.Pow(r + 1, exponent);
        for (int r = 0; r < n; r++) _cdf[r] /= sum;
    }

    public int Sample(Random rng)
    {
        int i = Array.BinarySearch(_cdf, rng.NextDouble());
        if (i < 0) i = ~i;
        return Math.Min(i, _cdf.Length - 1);
    }
}
