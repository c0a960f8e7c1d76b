using System.Diagnostics;
using System.Text.Json;
using LLama;
using LLama.Common;
using LLama.Native;
using Strata.Engine;
using Strata.Kv;
using Strata.Kv.Tiers;
using Strata.Tensors;
using Strata.Tests.Support;

namespace Strata.Bench.SideBySide;

/// <summary>
/// Time to first token of a long conversation continued by a new process with the same --kv-dir, against computing
/// it from scratch (Strata and llama.cpp), on the same synthetic model and thread count; plus the ssd tier's read
/// throughput during the prefix load next to fio's on the same directory with the same transfer size.
/// Usage: kv-restart [--type q4_0] [--tokens 2000] [--threads 2] [--shape tinyllama|small] [--rounds 3]
/// Rounds alternate a new process loading the conversation and fio on the same directory; medians are printed.
/// </summary>
public static class KvRestartBench
{
    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "--child") return Child(args[1], args[2], args[3], int.Parse(args[4]));
        var type = Enum.Parse<GgmlType>(BenchModels.Option(args, "--type", "q4_0"), ignoreCase: true);
        int tokens = int.Parse(BenchModels.Option(args, "--tokens", "2000"));
        int threads = int.Parse(BenchModels.Option(args, "--threads", "2"));
        string shape = BenchModels.Option(args, "--shape", "tinyllama");
        string path = BenchModels.Get(shape, type);
        var rng = new Random(2000);
        var prompt = Enumerable.Range(0, tokens).Select(i => i == 0 ? 1 : rng.Next(3, 32000 / (shape == "tinyllama" ? 1 : 4))).ToArray();
        string kvDir = Path.Combine(Path.GetTempPath(), "strata-bench", "kv-restart");
        if (Directory.Exists(kvDir)) Directory.Delete(kvDir, recursive: true);
        Directory.CreateDirectory(kvDir);
        string promptFile = Path.Combine(kvDir, "prompt.json");
        File.WriteAllText(promptFile, JsonSerializer.Serialize(prompt));

        // 1. The conversation computed from scratch by Strata, which also writes its blocks to the ssd tier.
        double strataScratch;
        using (var model = Model.Load(path, new ModelOptions { Threads = threads, Context = 2048, Kv = new KvCacheOptions { SsdDirectory = kvDir } }))
        {
            Warm(model);
            var r = new Generator(model).Generate(prompt, new GenerationOptions { MaxTokens = 1, Sampling = Strata.Sampling.SamplerOptions.Greedy });
            strataScratch = r.TimeToFirstTokenMs;
            model.KvCache.Flush(TimeSpan.FromMinutes(5));
        }
        Console.WriteLine($"strata from scratch: ttft {strataScratch:F0} ms ({tokens} tokens)");

        // 2. llama.cpp computing the same prompt.
        double llama = LlamaTtft(path, prompt, threads);
        Console.WriteLine($"llama.cpp from scratch: ttft {llama:F0} ms");

        // 3. New processes continue the conversation from the KV directory, alternating with fio on the same directory.
        int rounds = int.Parse(BenchModels.Option(args, "--rounds", "3"));
        var ttfts = new List<double>();
        var ours = new List<double>();
        var fios = new List<double>();
        JsonElement c = default;
        for (int round = 0; round < rounds; round++)
        {
            c = Continue(path, kvDir, promptFile, threads);
            ttfts.Add(c.GetProperty("ttft_ms").GetDouble());
            ours.Add(c.GetProperty("ssd_bytes").GetInt64() / (c.GetProperty("load_ms").GetDouble() / 1000) / 1e6);
            double fio = Fio(kvDir, c.GetProperty("file_bytes").GetInt32(), c.GetProperty("ssd_bytes").GetInt64());
            if (fio > 0) fios.Add(fio);
            Console.WriteLine($"round {round + 1}: ttft {ttfts[^1]:F1} ms, prefix load {c.GetProperty("load_ms").GetDouble():F1} ms, ssd {ours[^1]:F0} MB/s, fio {fio:F0} MB/s");
        }
        double ttft = BenchModels.Median(ttfts);
        Console.WriteLine($"new process, same --kv-dir: ttft {ttft:F1} ms (median of {rounds}), {c.GetProperty("cached_tokens").GetInt32()} tokens from the cache " +
                          $"(dram {c.GetProperty("dram").GetInt32()}, ssd {c.GetProperty("ssd").GetInt32()} blocks), " +
                          $"{c.GetProperty("ssd_bytes").GetInt64() / 1e6:F1} MB read from ssd ({(c.GetProperty("direct").GetBoolean() ? "direct I/O" : "buffered")})");
        Console.WriteLine($"speed-up: {strataScratch / ttft:F0}x vs Strata recomputing, {llama / ttft:F0}x vs llama.cpp recomputing");
        int fileBytes = c.GetProperty("file_bytes").GetInt32();
        Console.WriteLine(fios.Count > 0
            ? $"ssd read throughput: strata {BenchModels.Median(ours):F0} MB/s, fio {BenchModels.Median(fios):F0} MB/s (same directory, {fileBytes >> 10} KiB transfers, 8 in flight): {BenchModels.Median(ours) / BenchModels.Median(fios):P0}"
            : $"ssd read throughput: strata {BenchModels.Median(ours):F0} MB/s (fio not found: apt-get install fio)");
        return 0;
    }

    private static JsonElement Continue(string path, string kvDir, string promptFile, int threads)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") psi.ArgumentList.Add(typeof(KvRestartBench).Assembly.Location);
        foreach (var a in new[] { "kv-restart", "--child", path, kvDir, promptFile, threads.ToString() }) psi.ArgumentList.Add(a);
        using var child = Process.Start(psi)!;
        string output = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        return JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement.Clone();
    }


    private static void Warm(Model model) =>
        new Generator(model).Generate([1, 2, 3], new GenerationOptions { MaxTokens = 2, Sampling = Strata.Sampling.SamplerOptions.Greedy });

    /// <summary>The new process: load, warm the JIT on a 3-token prompt (it caches nothing), then the conversation.</summary>
    private static int Child(string path, string kvDir, string promptFile, int threads)
    {
        var prompt = JsonSerializer.Deserialize<int[]>(File.ReadAllText(promptFile))!;
        using var model = Model.Load(path, new ModelOptions { Threads = threads, Context = 2048, Kv = new KvCacheOptions { SsdDirectory = kvDir } });
        Warm(model);
        var ssd = (SsdKvTier)model.KvCache.LowerTiers.Single(l => l.Name == "ssd").Tier;
        var sw = Stopwatch.StartNew();
        using var seq = model.NewSequence();
        var reuse = model.KvCache.AttachPrefix(seq, prompt);
        double loadMs = sw.Elapsed.TotalMilliseconds;
        var logits = new float[model.Config.VocabSize];
        model.Transformer.Forward(prompt.AsSpan(seq.Length), seq, logits);
        double ttft = sw.Elapsed.TotalMilliseconds;
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            ttft_ms = ttft, load_ms = loadMs, cached_tokens = reuse.Tokens, dram = reuse.BlocksByTier["dram"], ssd = reuse.BlocksByTier["ssd"],
            ssd_bytes = ssd.ReadBytes, file_bytes = 4096 + (model.KvCache.Layout.BlockBytes + 4095) / 4096 * 4096, direct = ssd.DirectIo,
        }));
        return 0;
    }

    private static double LlamaTtft(string path, int[] prompt, int threads)
    {
        LlamaCpp.QuietNativeLog();
        var lp = new ModelParams(path) { ContextSize = 2048, BatchSize = 512, Threads = threads, BatchThreads = threads, GpuLayerCount = 0 };
        using var w = LLamaWeights.LoadFromFile(lp);
        using var ctx = new LLamaContext(w, lp);
        var h = ctx.NativeHandle;
        var batch = new LLamaBatch();
        batch.Add((LLamaToken)1, 0, LLamaSeqId.Zero, true);
        h.Decode(batch); // warm-up
        h.MemoryClear();
        var sw = Stopwatch.StartNew();
        for (int start = 0; start < prompt.Length; start += 512)
        {
            batch.Clear();
            int end = Math.Min(prompt.Length, start + 512);
            for (int i = start; i < end; i++) batch.Add((LLamaToken)prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
            h.Decode(batch);
        }
        _ = h.GetLogitsIth(batch.TokenCount - 1);
        return sw.Elapsed.TotalMilliseconds;
    }

    /// <summary>fio's random read throughput in MB/s on <paramref name="dir"/> with the ssd tier's transfer size, or 0 without fio.</summary>
    private static double Fio(string dir, int blockBytes, long totalBytes)
    {
        try
        {
            var psi = new ProcessStartInfo("fio") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "--name=strata-kv", $"--directory={dir}", "--rw=randread", $"--bs={blockBytes}", "--direct=1",
                         $"--size={Math.Max(totalBytes, 64L << 20)}", "--ioengine=psync", "--numjobs=8", "--group_reporting", "--output-format=json" })
                psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            string json = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            foreach (var f in Directory.EnumerateFiles(dir, "strata-kv.*")) File.Delete(f);
            var read = JsonDocument.Parse(json).RootElement.GetProperty("jobs")[0].GetProperty("read");
            return read.GetProperty("bw_bytes").GetDouble() / 1e6;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or JsonException or InvalidOperationException or KeyNotFoundException)
        {
            return 0;
        }
    }
}
