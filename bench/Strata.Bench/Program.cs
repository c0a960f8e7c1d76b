using System.Diagnostics;
using BenchmarkDotNet.Running;
using Strata.Bench;
using Strata.Tensors;

// The side-by-side and single-purpose benchmarks, by their first argument; each takes the arguments after it.
// With none of these: a quick Stopwatch sweep of matvec kernels printing GB/s of weights read; "--bdn" runs the
// BenchmarkDotNet suite instead.
var commands = new Dictionary<string, Func<string[], int>>
{
    ["decode"] = Strata.Bench.SideBySide.DecodeVsLlamaCpp.Run,            // decode speed against llama.cpp
    ["batch-decode"] = Strata.Bench.SideBySide.BatchDecodeVsLlamaCpp.Run, // B sequences decoded in one batch, both engines
    ["serve-load"] = Strata.Bench.SideBySide.ServeLoadBench.Run,          // concurrent streaming clients against `strata serve`
    ["speed"] = Strata.Bench.SideBySide.SpeedVsLlamaCpp.Run,              // the CPU-speed table: prefill and decode per weight type
    ["peak-rss"] = Strata.Bench.SideBySide.PeakRssVsLlamaCpp.Run,         // peak resident memory of each engine, a child process each
    ["step-mix"] = StepMixBench.Run,                                      // one forward pass by its make-up: decode with and without a prefill chunk
    ["attention"] = AttentionBench.Run,                                   // tiled attention against the two-pass form
    ["grammar-mask"] = GrammarMaskBench.Run,                              // grammar-constrained decoding's cost per token
    ["route-replay"] = Strata.Bench.Routing.RouteReplayBench.Run,         // a shared-prefix trace through `strata router`
    ["kv-remote"] = Strata.Bench.Routing.RemoteTierBench.Run,             // the remote tier's write and batched read throughput
    ["kv-remote-ttft"] = Strata.Bench.Routing.RemoteTtftBench.Run,        // TTFT of a conversation continued on a second server
    ["kv-restart"] = Strata.Bench.SideBySide.KvRestartBench.Run,          // TTFT of a conversation continued from the ssd tier
    ["subnormal-fma"] = SubnormalFmaBench.Run,                            // what float subnormal operands cost an FMA on this CPU
    ["fingerprint"] = Fingerprint,                                        // the model fingerprint's share of model load
};
if (args.Length > 0 && commands.TryGetValue(args[0], out var command))
{
    Environment.ExitCode = command(args[1..]);
    return;
}
if (args.Contains("--bdn"))
{
    BenchmarkRunner.Run<MatVec>(args: args.Where(a => a != "--bdn").ToArray());
    return;
}

// "--tokens N": N activation rows per call (a prefill chunk or a decode batch) instead of one; GFLOP/s is printed too.
int tokens = 1;
int ti = Array.IndexOf(args, "--tokens");
if (ti >= 0)
{
    tokens = int.Parse(args[ti + 1]);
    args = args.Where((_, i) => i != ti && i != ti + 1).ToArray();
}
GgmlType[] types = args.Length > 0
    ? args.Select(Enum.Parse<GgmlType>).ToArray()
    : [GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.F16, GgmlType.F32, GgmlType.BF16, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
       GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K];
// cpu GB/s = bytes / (process CPU seconds / threads): what the kernel does when it has the cores to itself
Console.WriteLine($"{"type",-6} {"rows x cols",-12} {"threads",7} {"GB/s",8} {"cpu GB/s",9} {"us/call",9}{(tokens > 1 ? $" {"GFLOP/s",8} (" + tokens + " tokens)" : "")}");
foreach (var (type, layout) in types.SelectMany(t => Strata.Weights.WeightPacker.HasInterleavedLayout(t) ? new[] { (t, WeightLayout.Plain), (t, WeightLayout.Interleaved8) }
             : t == GgmlType.F16 ? new[] { (t, WeightLayout.Plain), (t, WeightLayout.PlainFinite) } : new[] { (t, WeightLayout.Plain) }))
    foreach (var (rows, cols) in new[] { (2048, 2048), (8192, 2048), (2048, 8192) })
        foreach (int threads in new[] { 1, 2 })
        {
            var b = new MatVec { Type = type, Rows = rows, Cols = cols, Threads = threads, Layout = layout, Tokens = tokens };
            b.Setup();
            for (int i = 0; i < 20; i++) b.Run();
            int iters = Math.Max(20, (int)(2e9 / b.WeightBytes / tokens));
            double best = double.MaxValue, bestCpu = double.MaxValue;
            var proc = Process.GetCurrentProcess();
            for (int rep = 0; rep < 5; rep++)
            {
                proc.Refresh();
                var cpu0 = proc.TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < iters; i++) b.Run();
                best = Math.Min(best, sw.Elapsed.TotalSeconds / iters);
                proc.Refresh();
                bestCpu = Math.Min(bestCpu, (proc.TotalProcessorTime - cpu0).TotalSeconds / iters / threads);
            }
            Console.WriteLine($"{layout switch { WeightLayout.Plain => type.ToString(), WeightLayout.PlainFinite => type + "fin", _ => type + "x8" },-6} {rows + "x" + cols,-12} {threads,7} {b.WeightBytes / best / 1e9,8:F2} {b.WeightBytes / bestCpu / 1e9,9:F2} {best * 1e6,9:F1}{(tokens > 1 ? $" {2.0 * rows * cols * tokens / best / 1e9,8:F1}" : "")}");
            b.Dispose();
        }

// The model fingerprint's share of model load (issue: at most a few percent), on the benchmark model or the file given.
static int Fingerprint(string[] args)
{
    string path = args.Length > 0 ? args[0] : Strata.Bench.SideBySide.BenchModels.Get("tinyllama", GgmlType.Q4_0);
    var load = Stopwatch.StartNew();
    using (var m = Strata.Engine.Model.Load(path, new Strata.Engine.ModelOptions { Threads = 2, Context = 2048 })) load.Stop();
    using var f = Strata.Gguf.GgufFile.Open(path);
    var c = Strata.Models.ModelConfig.FromGguf(f);
    var fp = Stopwatch.StartNew();
    var hash = Strata.Kv.ModelFingerprint.Compute(f, c, new Strata.Kv.KvLayout(c.Layers, c.KvDim, 16));
    fp.Stop();
    Console.WriteLine($"{Path.GetFileName(path)}: load {load.Elapsed.TotalMilliseconds:F0} ms (fingerprint included), fingerprint {fp.Elapsed.TotalMilliseconds:F1} ms on a fresh mapping ({hash.Short})");
    return 0;
}
