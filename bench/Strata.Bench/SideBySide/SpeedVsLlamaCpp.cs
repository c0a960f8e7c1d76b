using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Native;
using Strata.Engine;
using Strata.Kv;
using Strata.Quantization;
using Strata.Tensors;
using Strata.Tests.Support;

namespace Strata.Bench.SideBySide;

/// <summary>
/// The CPU-speed table: prefill tok/s (a P-token prompt) and decode tok/s of Strata and llama.cpp on the same GGUF
/// files, same threads, in one process with rounds interleaved, for each weight type, and the default model.
/// The quantized files are made by llama.cpp's own quantizer from one F16 model (as a user would make them).
/// Usage: speed [--types f16,q8_0,q4_0,q4_k_m,q5_k_m,q6_k] (also q4_1 q5_0 q5_1 q4_k_s q5_k_s q2_k q3_k_s q3_k_m q3_k_l) [--prompt 512] [--decode 64] [--rounds 3] [--threads 2]
///              [--shape tinyllama|small] [--no-default-model]
/// </summary>
public static class SpeedVsLlamaCpp
{
    public static int Run(string[] args)
    {
        var types = BenchModels.Option(args, "--types", "f16,q8_0,q4_0,q4_k_m,q5_k_m,q6_k").Split(',', StringSplitOptions.RemoveEmptyEntries);
        int prompt = int.Parse(BenchModels.Option(args, "--prompt", "512"));
        int decode = int.Parse(BenchModels.Option(args, "--decode", "64"));
        int rounds = int.Parse(BenchModels.Option(args, "--rounds", "3"));
        int threads = int.Parse(BenchModels.Option(args, "--threads", "2"));
        string shape = BenchModels.Option(args, "--shape", "tinyllama");
        LlamaCpp.QuietNativeLog();
        NativeApi.llama_empty_call();

        var rows = new List<string>();
        foreach (string t in types)
        {
            string path = ModelFor(shape, t);
            rows.Add(Compare($"{shape} {t.ToUpperInvariant()}", path, prompt, decode, rounds, threads));
        }
        if (!args.Contains("--no-default-model"))
        {
            string tiny = DefaultModel.Find() ?? throw new FileNotFoundException($"the default model ({DefaultModel.FileName}) is not beside the benchmark; pass --no-default-model to skip its row");
            rows.Add(Compare("default model", tiny, Math.Min(prompt, 200), decode, rounds, threads));
        }

        Console.WriteLine();
        Console.WriteLine($"| model | prefill {prompt} tok/s: Strata / llama.cpp | ratio | decode tok/s: Strata / llama.cpp | ratio |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var r in rows) Console.WriteLine(r);
        return 0;
    }

    /// <summary>F16, Q8_0 and Q4_0 as written; the K-quant mixes through llama.cpp's quantizer from the F16 file.</summary>
    internal static string ModelFor(string shape, string type)
    {
        if (type is "f16" or "q8_0" or "q4_0") return BenchModels.Get(shape, Enum.Parse<GgmlType>(type, true));
        string f16 = BenchModels.Get(shape, GgmlType.F16);
        string path = Path.Combine(Path.GetDirectoryName(f16)!, $"{shape}-{type}-llama.gguf");
        if (!File.Exists(path))
        {
            uint ftype = QuantMix.Find(type.ToUpperInvariant())?.FileType
                ?? (LlamaOnlyMixes.TryGetValue(type, out var f) ? (uint)f : throw new ArgumentException($"unknown type {type}"));
            Console.Error.WriteLine($"quantizing {f16} to {type} with llama.cpp ...");
            string tmp = path + ".tmp";
            if (!LLamaQuantizer.Quantize(f16, tmp, (LLamaFtype)ftype, nthread: 2, allowRequantize: true))
                throw new InvalidOperationException($"llama.cpp could not quantize to {type}");
            File.Move(tmp, path, overwrite: true);
        }
        return path;
    }

    /// <summary>llama.cpp mixes Strata's quantizer does not make (their 2- and 3-bit types Strata reads and runs).</summary>
    private static readonly Dictionary<string, LLamaFtype> LlamaOnlyMixes = new(StringComparer.OrdinalIgnoreCase)
    {
        ["q2_k"] = LLamaFtype.MOSTLY_Q2_K,
        ["q3_k_s"] = LLamaFtype.MOSTLY_Q3_K_S,
        ["q3_k_m"] = LLamaFtype.MOSTLY_Q3_K_M,
        ["q3_k_l"] = LLamaFtype.MOSTLY_Q3_K_L,
    };

    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(200);

    private static string Compare(string name, string path, int prompt, int decode, int rounds, int threads)
    {
        int ctx = prompt + decode + 16;
        var lp = new ModelParams(path) { ContextSize = (uint)ctx, BatchSize = 512, UBatchSize = 512, Threads = threads, BatchThreads = threads, GpuLayerCount = 0 };
        using var lw = LLamaWeights.LoadFromFile(lp);
        using var lctx = new LLamaContext(lw, lp);
        using var model = Model.Load(path, new ModelOptions { Threads = threads, Context = ctx, BatchSize = 512 });
        int vocab = model.Config.VocabSize;
        var rng = new Random(11);
        var tokens = Enumerable.Range(0, prompt).Select(_ => rng.Next(3, vocab)).ToArray();
        SpeedBenchmark.WarmUp(model, () => rng.Next(3, vocab), new float[vocab]);
        Strata(model, tokens.AsSpan(0, 16).ToArray(), 2);
        Llama(lctx, tokens.AsSpan(0, 16).ToArray(), 2);
        var sp = new List<double>(); var sd = new List<double>(); var lpf = new List<double>(); var ld = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            // A pause before each engine: llama.cpp's OpenMP threads spin for some milliseconds after a decode
            // (libgomp's default GOMP_SPINCOUNT), which on 2 cores halved the default model's next 15-ms Strata
            // prefill when it followed at once (6-7k against 13-14k tok/s measured without the llama.cpp rounds).
            Thread.Sleep(Quiet);
            var (a, b) = Strata(model, tokens, decode);
            Thread.Sleep(Quiet);
            var (c, d) = Llama(lctx, tokens, decode);
            sp.Add(a); sd.Add(b); lpf.Add(c); ld.Add(d);
            Console.WriteLine($"{name} round {r + 1}: prefill strata {a:F1} llama.cpp {c:F1} tok/s; decode strata {b:F1} llama.cpp {d:F1} tok/s");
        }
        double p1 = BenchModels.Median(sp), p2 = BenchModels.Median(lpf), d1 = BenchModels.Median(sd), d2 = BenchModels.Median(ld);
        return $"| {name} | {p1:F1} / {p2:F1} | **{p1 / p2:F2}** | {d1:F1} / {d2:F1} | **{d1 / d2:F2}** |";
    }

    /// <summary>Prefill tok/s of the prompt in chunks of the model's batch, then greedy decode tok/s.</summary>
    internal static (double Prefill, double Decode) Strata(Model model, int[] prompt, int n)
    {
        int vocab = model.Config.VocabSize;
        var logits = new float[vocab];
        using var seq = model.NewSequence();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < prompt.Length; i += model.Transformer.MaxBatch)
            model.Transformer.Forward(prompt.AsSpan(i, Math.Min(model.Transformer.MaxBatch, prompt.Length - i)), seq, logits);
        double prefill = prompt.Length / sw.Elapsed.TotalSeconds;
        sw.Restart();
        for (int g = 0; g < n; g++) model.Transformer.Forward([BenchModels.ArgMax(logits)], seq, logits);
        return (prefill, n / sw.Elapsed.TotalSeconds);
    }

    internal static (double Prefill, double Decode) Llama(LLamaContext ctx, int[] prompt, int n)
    {
        var h = ctx.NativeHandle;
        h.MemoryClear();
        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Length; i++) batch.Add((LLamaToken)prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
        var sw = Stopwatch.StartNew();
        h.Decode(batch);
        double prefill = prompt.Length / sw.Elapsed.TotalSeconds;
        int pos = prompt.Length, idx = prompt.Length - 1;
        sw.Restart();
        for (int step = 0; step < n; step++)
        {
            var logits = h.GetLogitsIth(idx);
            int best = 0;
            for (int j = 1; j < logits.Length; j++) if (logits[j] > logits[best]) best = j;
            batch.Clear();
            batch.Add((LLamaToken)best, pos++, LLamaSeqId.Zero, true);
            h.Decode(batch);
            idx = 0;
        }
        return (prefill, n / sw.Elapsed.TotalSeconds);
    }
}
