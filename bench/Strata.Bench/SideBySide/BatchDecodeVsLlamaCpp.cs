using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Native;
using Strata.Engine;
using Strata.Kv;
using Strata.Models;
using Strata.Tensors;
using Strata.Tests.Support;

namespace Strata.Bench.SideBySide;

/// <summary>
/// Aggregate decode tokens/s of B sequences in one batch per step against one sequence alone, for Strata's batched
/// forward pass and for llama.cpp (one llama_decode over B sequence ids, as LLamaSharp's BatchedExecutor issues it),
/// same model and threads, rounds interleaved.
/// Usage: batch-decode [--type q4_0] [--batch 8] [--tokens 32] [--rounds 3] [--threads 2] [--shape tinyllama|small]
/// </summary>
public static class BatchDecodeVsLlamaCpp
{
    public static int Run(string[] args)
    {
        var type = Enum.Parse<GgmlType>(BenchModels.Option(args, "--type", "q4_0"), ignoreCase: true);
        int b = int.Parse(BenchModels.Option(args, "--batch", "8"));
        int tokens = int.Parse(BenchModels.Option(args, "--tokens", "32"));
        int rounds = int.Parse(BenchModels.Option(args, "--rounds", "3"));
        int threads = int.Parse(BenchModels.Option(args, "--threads", "2"));
        string path = BenchModels.Get(BenchModels.Option(args, "--shape", "tinyllama"), type);

        LlamaCpp.QuietNativeLog();
        var lp = new ModelParams(path) { ContextSize = (uint)(b * 128), BatchSize = 512, SeqMax = (uint)b, Threads = threads, BatchThreads = threads, GpuLayerCount = 0 };
        using var lw = LLamaWeights.LoadFromFile(lp);
        using var lctx = new LLamaContext(lw, lp);
        using var model = Model.Load(path, new ModelOptions { Threads = threads, Context = 128, MaxSequences = b });

        Strata(model, 1, 2); Llama(lctx, 1, 2); // warm-up
        var s1 = new List<double>(); var sb = new List<double>(); var l1 = new List<double>(); var lb = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            s1.Add(Strata(model, 1, tokens)); sb.Add(Strata(model, b, tokens));
            l1.Add(Llama(lctx, 1, tokens)); lb.Add(Llama(lctx, b, tokens));
            Console.WriteLine($"round {r + 1}: strata 1 seq {s1[^1]:F1}, {b} seqs {sb[^1]:F1} tok/s; llama.cpp 1 seq {l1[^1]:F1}, {b} seqs {lb[^1]:F1} tok/s");
        }
        double m1 = BenchModels.Median(s1), mb = BenchModels.Median(sb), n1 = BenchModels.Median(l1), nb = BenchModels.Median(lb);
        Console.WriteLine($"batch decode {type} b={b} threads={threads}: strata {mb:F1} tok/s ({mb / m1:F2}x its single {m1:F1}), " +
                          $"llama.cpp {nb:F1} tok/s ({nb / n1:F2}x its single {n1:F1}); strata/llama.cpp at b={b}: {mb / nb:F2}");
        return 0;
    }

    private static double Strata(Model model, int b, int n)
    {
        int vocab = model.Config.VocabSize;
        var seqs = Enumerable.Range(0, b).Select(_ => model.NewSequence()).ToArray();
        var logits = new float[b * vocab];
        try
        {
            var entries = seqs.Select(s => new BatchEntry(s, 1)).ToArray();
            var prompt = new[] { 1, 300, 307, 314 };
            foreach (var s in seqs) model.Transformer.Forward(prompt, s, logits);
            var tokens = Enumerable.Repeat(BenchModels.ArgMax(logits.AsSpan(0, vocab)), b).Select((t, i) => (t + i) % vocab).ToArray();
            var sw = Stopwatch.StartNew();
            for (int step = 0; step < n; step++)
            {
                model.Transformer.Forward(tokens, entries, logits);
                for (int s = 0; s < b; s++) tokens[s] = BenchModels.ArgMax(logits.AsSpan(s * vocab, vocab));
            }
            return (double)b * n / sw.Elapsed.TotalSeconds;
        }
        finally
        {
            foreach (var s in seqs) s.Dispose();
        }
    }

    private static double Llama(LLamaContext ctx, int b, int n)
    {
        var h = ctx.NativeHandle;
        h.MemoryClear();
        var batch = new LLamaBatch();
        var prompt = new[] { 1, 300, 307, 314 };
        for (int s = 0; s < b; s++)
            for (int i = 0; i < prompt.Length; i++) batch.Add((LLamaToken)prompt[i], i, (LLamaSeqId)s, i == prompt.Length - 1);
        h.Decode(batch);
        var next = new int[b];
        for (int s = 0; s < b; s++) next[s] = (BenchModels.ArgMax(h.GetLogitsIth(s * prompt.Length + prompt.Length - 1)) + s) % 32000;
        int pos = prompt.Length;
        var sw = Stopwatch.StartNew();
        for (int step = 0; step < n; step++)
        {
            batch.Clear();
            for (int s = 0; s < b; s++) batch.Add((LLamaToken)next[s], pos, (LLamaSeqId)s, true);
            h.Decode(batch);
            for (int s = 0; s < b; s++) next[s] = BenchModels.ArgMax(h.GetLogitsIth(s));
            pos++;
        }
        return (double)b * n / sw.Elapsed.TotalSeconds;
    }


}
