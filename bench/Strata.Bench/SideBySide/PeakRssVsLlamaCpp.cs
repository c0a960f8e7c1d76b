using System.Diagnostics;
using System.Globalization;
using LLama;
using LLama.Common;
using LLama.Native;
using Strata.Engine;
using Strata.Tests.Support;

namespace Strata.Bench.SideBySide;

/// <summary>
/// Peak resident memory of the two engines on the same files: each engine runs in a child process of its own (one
/// process would mix the two), loads the model, prefills a prompt and decodes greedily, and reports the kernel's
/// high-water mark of its resident set (VmHWM: anonymous and file-backed pages, so mapped weights count for both).
/// Both children are this .NET program, so the runtime's own footprint is on both sides.
/// Usage: peak-rss [--types f16,q8_0,q4_0,q4_k_m,q5_k_m,q6_k] [--prompt 512] [--decode 64] [--threads 2]
/// </summary>
public static class PeakRssVsLlamaCpp
{
    public static int Run(string[] args)
    {
        if (BenchModels.Option(args, "--child", "") is { Length: > 0 } child) return Child(child, args);
        if (!OperatingSystem.IsLinux())
        {
            Console.Error.WriteLine("peak-rss reads /proc/self/status: Linux only");
            return 2;
        }
        var types = BenchModels.Option(args, "--types", "f16,q8_0,q4_0,q4_k_m,q5_k_m,q6_k").Split(',', StringSplitOptions.RemoveEmptyEntries);
        string prompt = BenchModels.Option(args, "--prompt", "512"), decode = BenchModels.Option(args, "--decode", "64"), threads = BenchModels.Option(args, "--threads", "2");
        Console.WriteLine($"peak resident memory (VmHWM), prompt {prompt}, decode {decode}, {threads} threads, one child process per engine and model");
        Console.WriteLine();
        Console.WriteLine("| model | file MB | peak RSS MB: Strata / llama.cpp | ratio |");
        Console.WriteLine("|---|---|---|---|");
        foreach (var type in types)
        {
            string path = SpeedVsLlamaCpp.ModelFor("tinyllama", type);
            double file = new FileInfo(path).Length / 1e6;
            double ours = Spawn("strata", path, prompt, decode, threads), theirs = Spawn("llama", path, prompt, decode, threads);
            Console.WriteLine($"| 1.1B shape {type.ToUpperInvariant()} | {file:F0} | {ours:F0} / {theirs:F0} | **{ours / theirs:F2}** |");
        }
        return 0;
    }

    /// <summary>Runs one engine in a child process; its peak RSS in MB.</summary>
    private static double Spawn(string engine, string path, string prompt, string decode, string threads)
    {
        string self = typeof(PeakRssVsLlamaCpp).Assembly.Location;
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { self, "peak-rss", "--child", engine, "--model", path, "--prompt", prompt, "--decode", decode, "--threads", threads })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start a child process");
        var stderr = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(10))) { p.Kill(true); throw new TimeoutException($"the {engine} child ran past 10 minutes"); }
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("peak_rss_kb ", StringComparison.Ordinal));
        if (p.ExitCode != 0 || line == null)
            throw new InvalidOperationException($"the {engine} child failed (exit {p.ExitCode}): {stderr.Result.Trim()}");
        return long.Parse(line["peak_rss_kb ".Length..], CultureInfo.InvariantCulture) / 1024.0;
    }

    private static int Child(string engine, string[] args)
    {
        string path = BenchModels.Option(args, "--model", "");
        int prompt = int.Parse(BenchModels.Option(args, "--prompt", "512")), decode = int.Parse(BenchModels.Option(args, "--decode", "64"));
        int threads = int.Parse(BenchModels.Option(args, "--threads", "2"));
        int ctx = prompt + decode + 16;
        var rng = new Random(11);
        if (engine == "strata")
        {
            using var model = Model.Load(path, new ModelOptions { Threads = threads, Context = ctx, BatchSize = 512 });
            var tokens = Enumerable.Range(0, prompt).Select(_ => rng.Next(3, model.Config.VocabSize)).ToArray();
            SpeedVsLlamaCpp.Strata(model, tokens, decode);
        }
        else
        {
            LlamaCpp.QuietNativeLog();
            var lp = new ModelParams(path) { ContextSize = (uint)ctx, BatchSize = 512, UBatchSize = 512, Threads = threads, BatchThreads = threads, GpuLayerCount = 0 };
            using var lw = LLamaWeights.LoadFromFile(lp);
            using var lctx = new LLamaContext(lw, lp);
            int vocab;
            using (var gguf = Strata.Gguf.GgufFile.Open(path)) vocab = Strata.Models.ModelConfig.FromGguf(gguf).VocabSize;
            var tokens = Enumerable.Range(0, prompt).Select(_ => rng.Next(3, vocab)).ToArray();
            SpeedVsLlamaCpp.Llama(lctx, tokens, decode);
        }
        var hwm = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        Console.WriteLine("peak_rss_kb " + hwm["VmHWM:".Length..].Trim().Split(' ')[0]);
        return 0;
    }
}
