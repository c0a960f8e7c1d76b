using System.ClientModel;
using System.Diagnostics;
using OpenAI;
using OpenAI.Chat;
using Strata.Server.Hosting;
using Strata.Tensors;

namespace Strata.Bench.SideBySide;

/// <summary>
/// Load on `strata serve` over real HTTP on loopback: N concurrent streaming clients (the official OpenAI client) for a
/// fixed time, each sending chat requests one after another. Prints p50/p99 time to first token and inter-token
/// latency, aggregate generated tokens/s (over the whole run, prefill included) and aggregate decode tokens/s (tokens
/// after each stream's first, over the time at least one stream was decoding), the steady rate (tokens received while
/// every client is issuing: from the moment all have their first token to the end of issuing, so neither the ramp nor
/// the tail of the last requests counts), completed streams and errors. Bounded in time and count; loopback only.
/// Usage: serve-load [--clients 32] [--seconds 60] [--max-tokens 48] [--parallel 8] [--shape small|tinyllama] [--type q4_0]
///                   [--model PATH] [--shared-prefix WORDS] [--no-prefix-cache]
/// </summary>
public static class ServeLoadBench
{
    public static int Run(string[] args)
    {
        int clients = int.Parse(BenchModels.Option(args, "--clients", "32"));
        double seconds = double.Parse(BenchModels.Option(args, "--seconds", "60"), System.Globalization.CultureInfo.InvariantCulture);
        int maxTokens = int.Parse(BenchModels.Option(args, "--max-tokens", "48"));
        int parallel = int.Parse(BenchModels.Option(args, "--parallel", "8"));
        int threads = int.Parse(BenchModels.Option(args, "--threads", "2"));
        int sharedPrefix = int.Parse(BenchModels.Option(args, "--shared-prefix", "0"));
        string? kvDir = BenchModels.Option(args, "--kv-dir", "") is { Length: > 0 } d ? d : null;
        bool noCache = args.Contains("--no-prefix-cache");
        string path = BenchModels.Option(args, "--model", "") is { Length: > 0 } m ? m
            : BenchModels.Get(BenchModels.Option(args, "--shape", "small"), Enum.Parse<GgmlType>(BenchModels.Option(args, "--type", "q4_0"), true));
        var r = RunAsync(path, clients, seconds, maxTokens, parallel, threads, sharedPrefix, kvDir, !noCache).GetAwaiter().GetResult();
        Console.WriteLine($"{clients} clients, {seconds:F0} s, max_tokens {maxTokens}, --parallel {parallel}, {Path.GetFileName(path)}");
        Console.WriteLine($"streams completed {r.Completed}, errors {r.Errors}, incomplete {r.Incomplete}");
        Console.WriteLine($"ttft p50 {r.TtftP50:F0} ms, p99 {r.TtftP99:F0} ms; inter-token p50 {r.ItlP50:F1} ms, p99 {r.ItlP99:F1} ms");
        Console.WriteLine($"aggregate {r.TokensPerSecond:F1} generated tok/s; decode {r.DecodeTokensPerSecond:F1} tok/s while streams decode; steady {r.SteadyTokensPerSecond:F1} tok/s while all {clients} clients issue ({r.SteadySeconds:F0} s)");
        Console.WriteLine($"prompt tokens per request {r.PromptTokensPerRequest:F0}, from the cache {r.CachedFraction:P0}");
        return r.Errors == 0 && r.Incomplete == 0 ? 0 : 1;
    }

    public sealed record LoadResult(int Completed, int Errors, int Incomplete, double TtftP50, double TtftP99, double ItlP50, double ItlP99,
        double TokensPerSecond, double CachedFraction, double DecodeTokensPerSecond, double SteadyTokensPerSecond, double SteadySeconds,
        double PromptTokensPerRequest);

    public static async Task<LoadResult> RunAsync(string modelPath, int clients, double seconds, int maxTokens, int parallel, int threads,
        int sharedPrefix = 0, string? kvDir = null, bool prefixCaching = true)
    {
        var options = new StrataServerOptions
        {
            ModelPath = modelPath, Port = 0, Parallel = parallel, Threads = threads, Context = 2048,
            Kv = new Strata.Kv.KvCacheOptions { SsdDirectory = kvDir, PrefixCaching = prefixCaching },
        };
        await using var server = StrataServer.Create(options);
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = server.Address };
        var ready = Stopwatch.StartNew();
        while ((int)(await http.GetAsync("/health")).StatusCode != 200)
        {
            if (ready.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException("the server did not become ready");
            await Task.Delay(50);
        }
        var chat = new ChatClient(Path.GetFileNameWithoutExtension(modelPath), new ApiKeyCredential("none"), new OpenAIClientOptions { Endpoint = new Uri(server.Address!, "/v1"), NetworkTimeout = TimeSpan.FromMinutes(5) });
        string shared = sharedPrefix > 0 ? string.Join(' ', Enumerable.Range(0, sharedPrefix).Select(i => $"w{i % 97}")) + "\n" : "";

        var ttft = new List<double>();
        var itl = new List<double>();
        int completed = 0, errors = 0, incomplete = 0;
        long tokens = 0, promptTokens = 0, cachedTokens = 0;
        var decoding = new List<(double From, double To, int Tokens)>(); // each stream's first to last token, on the run's clock
        var firstTokenOfClient = new double[clients]; // when each client's first stream began to flow
        Array.Fill(firstTokenOfClient, double.NaN);
        var clock = Stopwatch.StartNew();
        var stopIssuing = TimeSpan.FromSeconds(seconds);
        async Task Client(int id)
        {
            var rng = new Random(id);
            for (int turn = 0; clock.Elapsed < stopIssuing && turn < 10_000; turn++)
            {
                string question = shared + $"client {id} turn {turn}: " + string.Join(' ', Enumerable.Range(0, 8).Select(_ => rng.Next(1000)));
                var sw = Stopwatch.StartNew();
                double last = -1, firstAt = -1, lastAt = -1;
                int chunks = 0, streamTokens = 0;
                bool finished = false;
                try
                {
#pragma warning disable OPENAI001 // Seed is marked experimental in the client
                    var o = new ChatCompletionOptions { MaxOutputTokenCount = maxTokens, Temperature = 0.7f, Seed = id * 1000 + turn };
#pragma warning restore OPENAI001
                    await foreach (var u in chat.CompleteChatStreamingAsync([new UserChatMessage(question)], o))
                    {
                        double now = sw.Elapsed.TotalMilliseconds;
                        // The first chunk carries the role and empty content, as OpenAI sends it: not a token.
                        if (u.ContentUpdate.Any(part => !string.IsNullOrEmpty(part.Text)))
                        {
                            lock (ttft)
                            {
                                if (last < 0) ttft.Add(now); else itl.Add(now - last);
                                chunks++;
                            }
                            last = now;
                            lastAt = clock.Elapsed.TotalMilliseconds;
                            if (firstAt < 0) firstAt = lastAt;
                        }
                        if (u.Usage is { } usage)
                        {
                            Interlocked.Add(ref promptTokens, usage.InputTokenCount);
                            Interlocked.Add(ref cachedTokens, usage.InputTokenDetails?.CachedTokenCount ?? 0);
                            Interlocked.Add(ref tokens, usage.OutputTokenCount);
                            streamTokens = usage.OutputTokenCount;
                        }
                        if (u.FinishReason is not null) finished = true;
                    }
                    if (finished) Interlocked.Increment(ref completed); else Interlocked.Increment(ref incomplete);
                    if (firstAt >= 0 && streamTokens > 1) lock (decoding) decoding.Add((firstAt, lastAt, streamTokens - 1));
                    if (firstAt >= 0 && double.IsNaN(firstTokenOfClient[id])) firstTokenOfClient[id] = firstAt;
                }
                catch (Exception e)
                {
                    if (Interlocked.Increment(ref errors) == 1) Console.Error.WriteLine($"first error: {e.GetType().Name}: {e.Message}");
                    await Task.Delay(100); // a failing server is not hammered
                }
            }
        }
        await Task.WhenAll(Enumerable.Range(0, clients).Select(Client));
        double elapsed = clock.Elapsed.TotalSeconds;
        double steadyFrom = firstTokenOfClient.Any(double.IsNaN) ? double.NaN : firstTokenOfClient.Max(), steadyTo = seconds * 1000;
        ttft.Sort();
        itl.Sort();
        double P(List<double> xs, double q) => xs.Count == 0 ? 0 : xs[Math.Min(xs.Count - 1, (int)(q * xs.Count))];
        return new LoadResult(completed, errors, incomplete, P(ttft, 0.5), P(ttft, 0.99), P(itl, 0.5), P(itl, 0.99), tokens / elapsed,
            promptTokens == 0 ? 0 : (double)cachedTokens / promptTokens, DecodeRate(decoding), WindowRate(decoding, steadyFrom, steadyTo),
            double.IsNaN(steadyFrom) ? 0 : Math.Max(0, steadyTo - steadyFrom) / 1000, completed == 0 ? 0 : (double)promptTokens / completed);
    }

    /// <summary>
    /// Generated tokens received in [from, to] (ms on the run's clock) per second: a stream's first token counts where it
    /// arrived, its later ones as spread evenly between its first and last token (a stream straddling an edge counts in
    /// part).
    /// </summary>
    public static double WindowRate(List<(double From, double To, int Tokens)> streams, double from, double to)
    {
        if (double.IsNaN(from) || to <= from) return 0;
        double tokens = 0;
        foreach (var (a, b, n) in streams)
        {
            double overlap = Math.Min(b, to) - Math.Max(a, from);
            if (overlap > 0) tokens += b > a ? n * overlap / (b - a) : n;
            if (a >= from && a <= to) tokens++;
        }
        return tokens / ((to - from) / 1000);
    }

    /// <summary>
    /// Tokens after each stream's first, over the wall time covered by at least one stream between its first and last
    /// token: the rate of decoding while anything decodes, with the prefill of other requests that shares those steps
    /// counted in, and only the stretches where every client waits for a first token left out.
    /// </summary>
    public static double DecodeRate(List<(double From, double To, int Tokens)> streams)
    {
        if (streams.Count == 0) return 0;
        var sorted = streams.OrderBy(s => s.From).ToList();
        double covered = 0, start = sorted[0].From, end = sorted[0].To;
        foreach (var (from, to, _) in sorted.Skip(1))
        {
            if (from > end)
            {
                covered += end - start;
                (start, end) = (from, to);
            }
            else end = Math.Max(end, to);
        }
        covered += end - start;
        return covered <= 0 ? 0 : sorted.Sum(s => s.Tokens) / (covered / 1000);
    }
}
