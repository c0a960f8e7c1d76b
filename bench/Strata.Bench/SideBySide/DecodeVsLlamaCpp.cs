using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Native;
using Strata.Engine;
using Strata.Sampling;
using Strata.Tensors;
using Strata.Tests.Support;

namespace Strata.Bench.SideBySide;

/// <summary>
/// Decode speed of Strata and llama.cpp on the same synthetic model, same prompt, same thread count, in one process,
/// rounds interleaved so machine noise hits both alike. Reports tokens/s of each and the ratio.
/// Usage: decode [--type q8_0|q4_0|...] [--threads 2] [--tokens 64] [--rounds 3] [--shape tinyllama|small]
/// </summary>
public static class DecodeVsLlamaCpp
{
    public static int Run(string[] args)
    {
        string typeName = Option(args, "--type", "q8_0");
        int threads = int.Parse(Option(args, "--threads", "2"));
        int tokens = int.Parse(Option(args, "--tokens", "64"));
        int rounds = int.Parse(Option(args, "--rounds", "3"));
        string shape = Option(args, "--shape", "tinyllama");
        var type = Enum.Parse<GgmlType>(typeName, ignoreCase: true);

        string path = BenchModels.Get(shape, type);

        var prompt = Enumerable.Range(0, 8).Select(i => i == 0 ? 1 : 300 + i * 7).ToArray();
        LlamaCpp.QuietNativeLog();
        var lp = new ModelParams(path) { ContextSize = 512, BatchSize = 512, Threads = threads, BatchThreads = threads, GpuLayerCount = 0 };
        using var lw = LLamaWeights.LoadFromFile(lp);
        using var lctx = new LLamaContext(lw, lp);
        using var model = Model.Load(path, new ModelOptions { Threads = threads, Context = 512 });

        var ours = new List<double>();
        var theirs = new List<double>();
        // Warm-up of both (page in the weights, JIT).
        StrataDecode(model, prompt, 4);
        LlamaDecode(lctx, prompt, 4);
        for (int r = 0; r < rounds; r++)
        {
            ours.Add(StrataDecode(model, prompt, tokens));
            theirs.Add(LlamaDecode(lctx, prompt, tokens));
            Console.WriteLine($"round {r + 1}: strata {ours[^1]:F2} tok/s, llama.cpp {theirs[^1]:F2} tok/s");
        }
        double o = BenchModels.Median(ours), t = BenchModels.Median(theirs);
        Console.WriteLine($"decode {type} {shape} threads={threads} tokens={tokens}: strata {o:F2} tok/s, llama.cpp {t:F2} tok/s, ratio {o / t:F2}");
        return 0;
    }

    private static double StrataDecode(Model model, int[] prompt, int n)
    {
        using var g = new Generator(model);
        var r = g.Generate(prompt, new GenerationOptions { MaxTokens = n, Sampling = SamplerOptions.Greedy });
        return r.DecodeTokensPerSecond;
    }

    private static double LlamaDecode(LLamaContext ctx, int[] prompt, int n)
    {
        var h = ctx.NativeHandle;
        h.MemoryClear();
        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Length; i++) batch.Add((LLamaToken)prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
        h.Decode(batch);
        int pos = prompt.Length, idx = prompt.Length - 1;
        var sw = Stopwatch.StartNew();
        int produced = 0;
        for (int step = 0; step < n; step++)
        {
            var logits = h.GetLogitsIth(idx);
            int best = 0;
            for (int j = 1; j < logits.Length; j++) if (logits[j] > logits[best]) best = j;
            produced++;
            if (step == n - 1) break; // as Strata: the last sampled token is not fed back
            batch.Clear();
            batch.Add((LLamaToken)best, pos++, LLamaSeqId.Zero, true);
            h.Decode(batch);
            idx = 0;
        }
        return produced / sw.Elapsed.TotalSeconds;
    }


    private static string Option(string[] args, string name, string fallback) => BenchModels.Option(args, name, fallback);
}
