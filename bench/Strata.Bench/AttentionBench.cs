using System.Diagnostics;
using Strata.Engine;
using Strata.Models;
using Strata.Tests.Support;

namespace Strata.Bench;

/// <summary>
/// Tiled attention (online softmax) against the two-pass form, same model, rounds interleaved: the time of the
/// attention phase for a prefill of P tokens and for decode steps at that depth. 1.1B's attention shape
/// (32 heads, 8 KV heads, head size 64) on one layer, so attention dominates.
/// Usage: attention [--prompt 512] [--decode 32] [--rounds 3] [--threads 2]
/// </summary>
public static class AttentionBench
{
    public static int Run(string[] args)
    {
        int prompt = int.Parse(SideBySide.BenchModels.Option(args, "--prompt", "512"));
        int decode = int.Parse(SideBySide.BenchModels.Option(args, "--decode", "32"));
        int rounds = int.Parse(SideBySide.BenchModels.Option(args, "--rounds", "3"));
        int threads = int.Parse(SideBySide.BenchModels.Option(args, "--threads", "2"));
        using var dir = new TempDir();
        var spec = new ModelSpec("llama", Dim: 2048, Layers: 1, Heads: 32, KvHeads: 8, FeedForward: 256, Vocab: 512, Type: Strata.Tensors.GgmlType.Q8_0, Context: 4096);
        string path = TestModels.Write(spec, dir.Path);
        var tokens = TestModels.RandomTokens(spec.Vocab, prompt + decode, 7);
        using var tiled = Model.Load(path, new ModelOptions { Threads = threads, Context = prompt + decode + 8, TiledAttention = true });
        using var plain = Model.Load(path, new ModelOptions { Threads = threads, Context = prompt + decode + 8, TiledAttention = false });
        var results = new Dictionary<string, List<double>> { ["tiled prefill"] = [], ["plain prefill"] = [], ["tiled decode"] = [], ["plain decode"] = [] };
        for (int r = 0; r < rounds + 1; r++)
            foreach (var (name, model) in new[] { ("tiled", tiled), ("plain", plain) })
            {
                var (p, d) = Measure(model, tokens, prompt);
                if (r == 0) continue; // warm-up
                results[name + " prefill"].Add(p);
                results[name + " decode"].Add(d);
            }
        double tp = SideBySide.BenchModels.Median(results["tiled prefill"]), pp = SideBySide.BenchModels.Median(results["plain prefill"]);
        double td = SideBySide.BenchModels.Median(results["tiled decode"]), pd = SideBySide.BenchModels.Median(results["plain decode"]);
        Console.WriteLine($"attention, 32 heads / 8 KV heads, head 64, {threads} threads, medians of {rounds} interleaved rounds");
        Console.WriteLine($"prefill of {prompt} tokens: tiled {tp:F1} ms, two-pass {pp:F1} ms: {pp / tp:F2}x");
        Console.WriteLine($"decode at depth {prompt}: tiled {td:F3} ms/token, two-pass {pd:F3} ms/token: {pd / td:F2}x");
        return 0;
    }

    /// <summary>Milliseconds of the attention phase: the whole prefill, and per decoded token.</summary>
    private static (double Prefill, double Decode) Measure(Model model, int[] tokens, int prompt)
    {
        var profile = new ForwardProfile();
        var logits = new float[model.Config.VocabSize];
        using var seq = model.NewSequence();
        model.Transformer.Profile = profile;
        for (int i = 0; i < prompt; i += model.Transformer.MaxBatch)
            model.Transformer.Forward(tokens.AsSpan(i, Math.Min(model.Transformer.MaxBatch, prompt - i)), seq, logits);
        double prefill = profile[ForwardPhase.Attention].TotalMilliseconds;
        profile.Reset();
        for (int i = prompt; i < tokens.Length; i++) model.Transformer.Forward(tokens.AsSpan(i, 1), seq, logits);
        double decode = profile[ForwardPhase.Attention].TotalMilliseconds / (tokens.Length - prompt);
        model.Transformer.Profile = null;
        return (prefill, decode);
    }
}
