using System.Diagnostics;
using Strata.Engine;
using Strata.Models;
using Strata.Tests.Support;

namespace Strata.Bench;

/// <summary>
/// Tiled attention (online softmax) against the two-pass form, same model, rounds interleaved: the time of the
/// attention phase for a prefill of P tokens, for one forward of --step tokens after it (a continued conversation's
/// first step) and for decode steps at that depth. By default 1.1B's attention shape (32 heads, 8 KV heads, head
/// size 64) on one layer, so attention dominates; -m runs a model file instead (its context stretched to fit).
/// Usage: attention [-m MODEL] [--prompt 512] [--step 17] [--decode 32] [--rounds 3] [--threads 2]
/// </summary>
public static class AttentionBench
{
    public static int Run(string[] args)
    {
        int prompt = int.Parse(SideBySide.BenchModels.Option(args, "--prompt", "512"));
        int decode = int.Parse(SideBySide.BenchModels.Option(args, "--decode", "32"));
        int step = int.Parse(SideBySide.BenchModels.Option(args, "--step", "17"));
        int rounds = int.Parse(SideBySide.BenchModels.Option(args, "--rounds", "3"));
        int threads = int.Parse(SideBySide.BenchModels.Option(args, "--threads", "2"));
        using var dir = new TempDir();
        var spec = new ModelSpec("llama", Dim: 2048, Layers: 1, Heads: 32, KvHeads: 8, FeedForward: 256, Vocab: 512, Type: Strata.Tensors.GgmlType.Q8_0, Context: 4096);
        string path = SideBySide.BenchModels.Option(args, "-m", "") is { Length: > 0 } m ? m : TestModels.Write(spec, dir.Path);
        int context = prompt + Math.Max(step, decode) + 8;
        using var tiled = Model.Load(path, new ModelOptions { Threads = threads, Context = context, TiledAttention = true });
        using var plain = Model.Load(path, new ModelOptions { Threads = threads, Context = context, TiledAttention = false });
        var tokens = TestModels.RandomTokens(tiled.Config.VocabSize, prompt + Math.Max(step, decode), 7);
        var results = new Dictionary<string, List<double>>();
        foreach (var k in new[] { "prefill", "step", "decode" }) { results["tiled " + k] = []; results["plain " + k] = []; }
        for (int r = 0; r < rounds + 1; r++)
            foreach (var (name, model) in new[] { ("tiled", tiled), ("plain", plain) })
            {
                var (p, st, d) = Measure(model, tokens, prompt, step, decode);
                if (r == 0) continue; // warm-up
                results[name + " prefill"].Add(p);
                results[name + " step"].Add(st);
                results[name + " decode"].Add(d);
            }
        double tp = SideBySide.BenchModels.Median(results["tiled prefill"]), pp = SideBySide.BenchModels.Median(results["plain prefill"]);
        double ts = SideBySide.BenchModels.Median(results["tiled step"]), ps = SideBySide.BenchModels.Median(results["plain step"]);
        double td = SideBySide.BenchModels.Median(results["tiled decode"]), pd = SideBySide.BenchModels.Median(results["plain decode"]);
        var c = tiled.Config;
        Console.WriteLine($"attention of {Path.GetFileName(path)}: {c.Layers} layers, {c.Heads} heads / {c.KvHeads} KV heads, head {c.HeadDim}, {threads} threads, medians of {rounds} interleaved rounds");
        Console.WriteLine($"prefill of {prompt} tokens: tiled {tp:F1} ms, two-pass {pp:F1} ms: {pp / tp:F2}x");
        Console.WriteLine($"one step of {step} tokens at depth {prompt}: tiled {ts:F2} ms, two-pass {ps:F2} ms: {ps / ts:F2}x");
        Console.WriteLine($"decode at depth {prompt}: tiled {td:F3} ms/token, two-pass {pd:F3} ms/token: {pd / td:F2}x");
        return 0;
    }

    /// <summary>Milliseconds of the attention phase: the whole prefill, one step of <paramref name="step"/> tokens after it, and per decoded token.</summary>
    private static (double Prefill, double Step, double Decode) Measure(Model model, int[] tokens, int prompt, int step, int decode)
    {
        var profile = new ForwardProfile();
        var logits = new float[model.Config.VocabSize];
        using var seq = model.NewSequence();
        model.Transformer.Profile = profile;
        for (int i = 0; i < prompt; i += model.Transformer.MaxBatch)
            model.Transformer.Forward(tokens.AsSpan(i, Math.Min(model.Transformer.MaxBatch, prompt - i)), seq, logits);
        double prefill = profile[ForwardPhase.Attention].TotalMilliseconds;
        profile.Reset();
        model.Transformer.Forward(tokens.AsSpan(prompt, step), seq, logits);
        double stepMs = profile[ForwardPhase.Attention].TotalMilliseconds;
        seq.Truncate(prompt);
        profile.Reset();
        for (int i = prompt; i < prompt + decode; i++) model.Transformer.Forward(tokens.AsSpan(i, 1), seq, logits);
        double perToken = profile[ForwardPhase.Attention].TotalMilliseconds / decode;
        model.Transformer.Profile = null;
        return (prefill, stepMs, perToken);
    }
}
