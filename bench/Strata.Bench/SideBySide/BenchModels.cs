using Strata.Tensors;
using Strata.Tests.Support;

namespace Strata.Bench.SideBySide;

/// <summary>The synthetic models the side-by-side benchmarks run, written once to the temp folder.</summary>
public static class BenchModels
{
    /// <summary>"tinyllama": TinyLlama 1.1B's shape with 16 layers (the issues' benchmark model); "small": a quick one.</summary>
    public static string Get(string shape, GgmlType type)
    {
        var spec = shape == "tinyllama"
            ? new ModelSpec("llama", Dim: 2048, Layers: 16, Heads: 32, KvHeads: 8, FeedForward: 8192, Vocab: 32000, Type: type, Context: 2048)
            : new ModelSpec("llama", Dim: 512, Layers: 4, Heads: 8, KvHeads: 2, FeedForward: 1536, Vocab: 8000, Type: type, Context: 2048);
        string cache = Path.Combine(Path.GetTempPath(), "strata-bench");
        Directory.CreateDirectory(cache);
        string path = Path.Combine(cache, $"{shape}-{type}.gguf".ToLowerInvariant());
        if (!File.Exists(path))
        {
            Console.Error.WriteLine($"writing {spec} to {path} ...");
            string written = TestModels.Write(spec, cache);
            File.Move(written, path, overwrite: true);
        }
        return path;
    }

    public static string Option(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    public static double Median(IEnumerable<double> xs)
    {
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    public static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
