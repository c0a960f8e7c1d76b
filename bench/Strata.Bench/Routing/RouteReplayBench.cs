using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Kv.Replay;
using Microsoft.Extensions.Logging;
using Strata.Bench.SideBySide;
using Strata.Router;
using Strata.Server.Hosting;

namespace Strata.Bench.Routing;

/// <summary>
/// A multi-user, shared-prefix trace (Mooncake format) replayed through `strata router` to N `strata serve` backends
/// on loopback, once with prefix-affinity routing and once round-robin: prefix-cache hit rate and time to first token.
/// Each trace block id becomes <c>--id-tokens</c> seeded token ids (the same id, the same tokens), so shared ids are
/// shared prefixes; prompts are sent as token ids to /v1/completions, streamed, and timed by the client. The backends
/// keep only their own DRAM cache, sized to hold a third of the trace's distinct blocks (<c>--cache-share</c>), so
/// where a request lands decides whether its prefix is found. Bounded: <c>--requests</c>, at most <c>--max-ids</c>
/// ids per prompt, <c>--concurrency</c> requests in flight, <c>--max-tokens</c> generated.
/// Usage: route-replay [-m MODEL] [--trace FILE [--skip N] | --kind mixed] [--requests 200] [--backends 3] [--id-tokens 32] [--max-ids 40]
///                     [--concurrency 4] [--max-tokens 4] [--cache-share 0.33] [--seed 1] [--rounds 1] [--json FILE]
/// </summary>
public static class RouteReplayBench
{
    private sealed record Sample(double TtftMs, int Prompt, int Cached, string? Error = null);

    public static int Run(string[] args)
    {
        string? file = BenchModels.Option(args, "--trace", "") is { Length: > 0 } f ? f : null;
        string kind = BenchModels.Option(args, "--kind", "mixed");
        int requests = Int(args, "--requests", 200), backends = Int(args, "--backends", 3), idTokens = Int(args, "--id-tokens", 32);
        int maxIds = Int(args, "--max-ids", 40), concurrency = Int(args, "--concurrency", 4), maxTokens = Int(args, "--max-tokens", 4), seed = Int(args, "--seed", 1);
        double share = double.Parse(BenchModels.Option(args, "--cache-share", "0.33"), CultureInfo.InvariantCulture);
        string? json = BenchModels.Option(args, "--json", "") is { Length: > 0 } j ? j : null;

        int skip = Int(args, "--skip", 0);
        var trace = (file is null ? TraceGenerator.Generate(kind, requests, seed) : MooncakeTrace.Read(file).Skip(skip)).Take(requests).ToArray();
        string model = BenchModels.Option(args, "-m", "") is { Length: > 0 } given ? given : ShippedModel();
        int vocab;
        using (var m = Strata.Gguf.GgufFile.Open(model)) vocab = Strata.Tokenizers.Tokenizer.FromGguf(m.Metadata).Vocabulary.Count;
        var prompts = trace.Select(r => r.HashIds.Take(maxIds).SelectMany(id => Tokens(id, idTokens, vocab)).ToArray()).ToArray();
        int context = (maxIds * idTokens + maxTokens + 15) / 16 * 16 + 16;
        int blockBytes = 6 * 2 * 16 * 64 * 2;   // the default model's f16 block
        long distinct = trace.SelectMany(r => r.HashIds.Take(maxIds)).Distinct().LongCount() * idTokens / 16;
        int parallel = 2;
        long dramBlocks = Math.Max((long)(distinct * share), parallel * context / 16 + 16);
        Console.WriteLine($"trace: {(file is null ? kind : $"{Path.GetFileName(file)} from request {skip}")}, {trace.Length} requests, ideal hit rate {Ideal(trace, maxIds):P1}, {prompts.Sum(p => (long)p.Length)} prompt tokens, {distinct} distinct blocks; " +
                          $"{backends} backends, each {dramBlocks} DRAM blocks ({dramBlocks * blockBytes >> 20} MiB), {parallel} sequences, context {context}; {concurrency} in flight");
        int rounds = Math.Max(1, Int(args, "--rounds", 1));
        var results = new List<(string Policy, Sample[] Samples, double Affinity)>();
        // An unmeasured replay of the first requests on backends of their own warms the process's code (router, client,
        // servers — all in this process): otherwise the first policy measured pays the JIT in its tail.
        Replay(model, prompts[..Math.Min(60, prompts.Length)], RoutePolicy.Prefix, backends, parallel, context, dramBlocks * blockBytes, concurrency, maxTokens)
            .GetAwaiter().GetResult();
        // Rounds alternate the policies on fresh backends; a p99 of a few hundred requests is its few worst, so the
        // table gives each figure's median over rounds, and every round is printed.
        for (int round = 0; round < rounds; round++)
            foreach (var policy in new[] { RoutePolicy.Prefix, RoutePolicy.RoundRobin })
            {
                var clock = Stopwatch.StartNew();
                var (samples, affinity) = Replay(model, prompts, policy, backends, parallel, context, dramBlocks * blockBytes, concurrency, maxTokens).GetAwaiter().GetResult();
                results.Add((policy == RoutePolicy.Prefix ? "prefix" : "round-robin", samples, affinity));
                var ok = Ok(samples);
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "round {0} {1}: done in {2:F0} s, hit rate {3:P1}, TTFT p50 {4:F0} ms, p99 {5:F0} ms, mean {6:F0} ms",
                    round + 1, results[^1].Policy, clock.Elapsed.TotalSeconds, HitRate(ok), Percentile(ok, 0.5), Percentile(ok, 0.99), ok.Average(x => x.TtftMs)));
            }

        var summary = results.GroupBy(r => r.Policy).Select(g => new
        {
            Policy = g.Key,
            Requests = g.First().Samples.Length,
            Failed = g.Sum(r => r.Samples.Count(x => x.Error is not null)),
            HitRate = Median(g.Select(r => HitRate(Ok(r.Samples)))),
            P50 = Median(g.Select(r => Percentile(Ok(r.Samples), 0.5))),
            P99 = Median(g.Select(r => Percentile(Ok(r.Samples), 0.99))),
            Mean = Median(g.Select(r => Ok(r.Samples).Average(x => x.TtftMs))),
            Affinity = Median(g.Select(r => r.Affinity / r.Samples.Length)),
        }).ToArray();
        Console.WriteLine();
        if (rounds > 1) Console.WriteLine($"medians of {rounds} rounds:");
        Console.WriteLine("| routing | requests | failed | prefix hit rate (tokens) | TTFT p50 | TTFT p99 | TTFT mean | affinity-routed |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        foreach (var r in summary)
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "| {0} | {1} | {2} | {3:P1} | {4:F0} ms | {5:F0} ms | {6:F0} ms | {7:P0} |",
                r.Policy, r.Requests, r.Failed, r.HitRate, r.P50, r.P99, r.Mean, r.Affinity));
        var (p, rr) = (summary[0], summary[1]);
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "hit rate {0:F2}x round-robin's; p99 TTFT {1:F0} ms against {2:F0} ms",
            p.HitRate / Math.Max(1e-9, rr.HitRate), p.P99, rr.P99));
        if (json is not null)
            File.WriteAllText(json, JsonSerializer.Serialize(summary.Select(r => new
            {
                policy = r.Policy, requests = r.Requests, failed = r.Failed, hit_rate = r.HitRate,
                ttft_p50_ms = r.P50, ttft_p99_ms = r.P99, ttft_mean_ms = r.Mean, rounds,
            })));
        return 0;
    }

    /// <summary>models/strata-tiny.gguf of the repository this runs from.</summary>
    private static string ShippedModel()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Strata.sln"))) dir = dir.Parent;
        return Strata.Engine.DefaultModel.Find() ?? (dir is null ? throw new InvalidOperationException("the default model is not found: give -m MODEL")
            : Path.Combine(dir.FullName, "models", Strata.Engine.DefaultModel.FileName));
    }

    private static int Int(string[] args, string name, int fallback) => int.Parse(BenchModels.Option(args, name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

    /// <summary>The tokens standing for one trace block id: seeded by the id, so equal ids give equal tokens.</summary>
    private static int[] Tokens(long id, int n, int vocab)
    {
        var rng = new Random((int)(id * 2654435761 % int.MaxValue));
        return Enumerable.Range(0, n).Select(_ => rng.Next(3, vocab)).ToArray();
    }

    /// <summary>The prefix hit rate of an unbounded cache that every request reaches (blocks, as the trace counts them).</summary>
    private static double Ideal(TraceRequest[] trace, int maxIds)
    {
        var seen = new HashSet<long>();
        long hits = 0, total = 0;
        foreach (var r in trace)
        {
            var ids = r.HashIds.Take(maxIds).ToArray();
            int run = 0;
            while (run < ids.Length && seen.Contains(ids[run])) run++;
            hits += run;
            total += ids.Length;
            seen.UnionWith(ids);
        }
        return (double)hits / Math.Max(1, total);
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    private static Sample[] Ok(Sample[] s) => s.Where(x => x.Error is null).ToArray();

    private static double HitRate(Sample[] s) => (double)s.Sum(x => (long)x.Cached) / Math.Max(1, s.Sum(x => (long)x.Prompt));

    private static double Percentile(Sample[] s, double p)
    {
        var sorted = s.Select(x => x.TtftMs).Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
    }

    private static async Task<(Sample[] Samples, double AffinityHits)> Replay(string model, int[][] prompts, RoutePolicy policy, int count, int parallel,
        int context, long dramBytes, int concurrency, int maxTokens)
    {
        // Fresh backends for each policy: every run starts with cold caches.
        var servers = new List<StrataServer>();
        StrataRouter? router = null;
        try
        {
            for (int i = 0; i < count; i++)
            {
                var s = StrataServer.Create(new StrataServerOptions
                {
                    ModelPath = model, Port = 0, Parallel = parallel, Context = context, Threads = 1,
                    Kv = new Strata.Kv.KvCacheOptions { DramBytes = dramBytes },
                }, logging => logging.AddSimpleConsole(c => c.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
                await s.StartAsync();
                await s.Host.Ready;
                servers.Add(s);
            }
            router = StrataRouter.Create(new RouterOptions { Backends = servers.Select(s => s.Address!).ToArray(), ModelPath = model, Port = 0, Policy = policy });
            await router.StartAsync();
            using var http = new HttpClient { BaseAddress = router.Address, Timeout = TimeSpan.FromMinutes(5) };
            // Warm each backend's JIT directly (not through the router, so nothing is recorded), on prompts shorter than a block.
            foreach (var s in servers)
            {
                using var direct = new HttpClient { BaseAddress = s.Address };
                for (int w = 0; w < 3; w++) await Complete(direct, [1, 2, 3, 4 + w], 2);
            }

            var samples = new Sample[prompts.Length];
            int next = -1;
            var workers = Enumerable.Range(0, concurrency).Select(async _ =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < prompts.Length)
                {
                    try
                    {
                        samples[i] = await Complete(http, prompts[i], maxTokens);
                    }
                    catch (HttpRequestException e)
                    {
                        // Counted and shown, not hidden: a benchmark that drops failures measures the wrong thing.
                        samples[i] = new Sample(double.NaN, prompts[i].Length, 0, e.Message);
                        Console.Error.WriteLine($"request {i} failed: {e.Message}");
                    }
                }
            }).ToArray();
            await Task.WhenAll(workers);
            string metrics = await http.GetStringAsync("/metrics");
            double affinity = metrics.Split('\n').Where(l => l.StartsWith("strata_router_affinity_hits_total ", StringComparison.Ordinal))
                .Select(l => double.Parse(l.Split(' ')[1], CultureInfo.InvariantCulture)).FirstOrDefault();
            return (samples, affinity);
        }
        finally
        {
            if (router is not null) await router.DisposeAsync();
            foreach (var s in servers) await s.DisposeAsync();
        }
    }

    /// <summary>One streamed completion: the client's time to the first token, and the usage the server reports.</summary>
    private static async Task<Sample> Complete(HttpClient http, int[] prompt, int maxTokens)
    {
        var body = new JsonObject
        {
            ["prompt"] = new JsonArray(prompt.Select(t => (JsonNode)t).ToArray()),
            ["max_tokens"] = maxTokens,
            ["temperature"] = 0,
            ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
        };
        var clock = Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double ttft = -1;
        int promptTokens = prompt.Length, cached = 0;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]") continue;
            var chunk = JsonDocument.Parse(line[6..]).RootElement;
            if (ttft < 0 && chunk.TryGetProperty("choices", out var c) && c.GetArrayLength() > 0) ttft = clock.Elapsed.TotalMilliseconds;
            if (chunk.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object)
            {
                promptTokens = u.GetProperty("prompt_tokens").GetInt32();
                cached = u.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
            }
        }
        return new Sample(ttft, promptTokens, cached);
    }
}
