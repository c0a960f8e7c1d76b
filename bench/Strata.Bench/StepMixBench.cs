using System.Diagnostics;
using System.Globalization;
using Strata.Engine;
using Strata.Kv;
using Strata.Models;
using Strata.Tensors;

namespace Strata.Bench;

/// <summary>
/// What one server step costs by its make-up: B sequences' decode tokens, alone or with a prefill chunk of K tokens
/// of another sequence in the same forward pass, against the same chunk alone. The server's scheduler sizes its
/// prefill chunks from these costs; the marginal cost of a chunk token beside decode is what a busy server pays per
/// prompt token. Prints ms per step (median of the rounds) and the per-phase profile.
/// Usage: step-mix [--shape tinyllama] [--type q4_0] [--model PATH] [--decode 7] [--context 250] [--chunks 16,32,64,128] [--rounds 5] [--profile]
/// </summary>
public static class StepMixBench
{
    public static int Run(string[] args)
    {
        var inv = CultureInfo.InvariantCulture;
        string path = SideBySide.BenchModels.Option(args, "--model", "") is { Length: > 0 } m ? m
            : SideBySide.BenchModels.Get(SideBySide.BenchModels.Option(args, "--shape", "tinyllama"), Enum.Parse<GgmlType>(SideBySide.BenchModels.Option(args, "--type", "q4_0"), true));
        int decode = int.Parse(SideBySide.BenchModels.Option(args, "--decode", "7"), inv);
        int context = int.Parse(SideBySide.BenchModels.Option(args, "--context", "250"), inv);
        int rounds = int.Parse(SideBySide.BenchModels.Option(args, "--rounds", "5"), inv);
        int threads = int.Parse(SideBySide.BenchModels.Option(args, "--threads", "2"), inv);
        int[] chunks = SideBySide.BenchModels.Option(args, "--chunks", "16,32,64,128").Split(',').Select(s => int.Parse(s, inv)).ToArray();
        bool profile = args.Contains("--profile");

        using var model = Model.Load(path, new ModelOptions { Threads = threads, Context = 2048, BatchSize = Math.Max(256, decode + chunks.Max()) });
        var t = model.Transformer;
        int vocab = model.Config.VocabSize;
        var rng = new Random(1);
        int Token() => rng.Next(3, vocab);
        var logits = new float[(decode + 1) * vocab];

        // B decoding sequences with `context` tokens each, one more sequence whose prompt arrives in chunks.
        var seqs = new KvSequence[decode];
        for (int s = 0; s < decode; s++)
        {
            seqs[s] = model.NewSequence();
            for (int done = 0; done < context; done += t.MaxBatch)
                t.Forward(Enumerable.Range(0, Math.Min(t.MaxBatch, context - done)).Select(_ => Token()).ToArray(), seqs[s], logits);
        }
        Console.WriteLine($"{Path.GetFileName(path)}, {threads} threads, {decode} decoding sequences at context {context}; ms per step, median of {rounds}");

        var results = new List<(string Name, double Ms, ForwardProfile P)>();
        double Measure(string name, int chunk, bool withDecode)
        {
            var times = new List<double>();
            var prof = new ForwardProfile();
            for (int r = 0; r < rounds + 1; r++)
            {
                var fresh = chunk > 0 ? model.NewSequence() : null;
                try
                {
                    // the chunk lands after `context` tokens of its own prompt, as a later chunk of a long prompt would
                    if (fresh is not null && chunk > 0)
                        t.Forward(Enumerable.Range(0, Math.Min(t.MaxBatch, 64)).Select(_ => Token()).ToArray(), fresh, logits);
                    var entries = new List<BatchEntry>();
                    var tokens = new List<int>();
                    if (withDecode)
                        foreach (var s in seqs)
                        {
                            entries.Add(new BatchEntry(s, 1));
                            tokens.Add(Token());
                        }
                    if (fresh is not null)
                    {
                        entries.Add(new BatchEntry(fresh, chunk, LogitRows.Last));
                        for (int i = 0; i < chunk; i++) tokens.Add(Token());
                    }
                    var tk = tokens.ToArray();
                    var en = entries.ToArray();
                    t.Profile = r > 0 ? prof : null;
                    var sw = Stopwatch.StartNew();
                    t.Forward(tk, en, logits);
                    if (r > 0) times.Add(sw.Elapsed.TotalMilliseconds); // round 0 warms up
                    t.Profile = null;
                    // decode positions go back so every round sees the same context
                    if (withDecode) foreach (var s in seqs) s.Truncate(s.Length - 1);
                }
                finally
                {
                    fresh?.Dispose();
                }
            }
            times.Sort();
            double med = times[times.Count / 2];
            results.Add((name, med, prof));
            return med;
        }

        double d = Measure($"{decode} decode", 0, true);
        Console.WriteLine(string.Format(inv, "{0,-22} {1,8:F1} ms", $"{decode} decode", d));
        foreach (int k in chunks)
        {
            double alone = Measure($"chunk {k} alone", k, false);
            double mixed = Measure($"{decode} decode + chunk {k}", k, true);
            Console.WriteLine(string.Format(inv, "{0,-22} {1,8:F1} ms   alone {2,8:F1} ms   marginal {3,6:F2} ms per chunk token (alone {4,6:F2})",
                $"{decode} decode + chunk {k}", mixed, alone, (mixed - d) / k, alone / k));
        }
        if (profile)
            foreach (var (name, ms, p) in results)
            {
                Console.WriteLine(string.Format(inv, "{0}: {1:F1} ms", name, p.Total.TotalMilliseconds / Math.Max(1, p.Calls)));
                foreach (var row in p.Rows())
                    Console.WriteLine(string.Format(inv, "  {0,-14} {1,9:F2} ms {2,6:P1}", row.Phase, row.MsPerCall, row.Share));
            }
        foreach (var s in seqs) s.Dispose();
        return 0;
    }
}
