using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Bench.SideBySide;
using Strata.Engine;
using Strata.Server.Hosting;

namespace Strata.Bench.Routing;

/// <summary>
/// Time to first token of a long conversation continued on a second server that reads its blocks from the shared
/// store, against the first server computing it: two servers (one process, own models and caches), one store. Each
/// round is a new conversation of about --tokens tokens: A computes it (streamed, max_tokens 8), then B — which has
/// never seen it — gets the next turn. Prints every round, the medians and their ratio, and the best round's ratio.
/// Two unmeasured rounds first warm both servers along the same paths.
/// Usage: kv-remote-ttft --store redis://127.0.0.1:6379 [--tokens 2000] [--rounds 7] [--threads 2]
///                       [--model PATH | --shape small|tinyllama [--type q4_0]]   (default: the default model)
/// </summary>
public static class RemoteTtftBench
{
    public static int Run(string[] args)
    {
        string store = BenchModels.Option(args, "--store", "redis://127.0.0.1:6379");
        int tokens = int.Parse(BenchModels.Option(args, "--tokens", "2000"), CultureInfo.InvariantCulture);
        int rounds = int.Parse(BenchModels.Option(args, "--rounds", "7"), CultureInfo.InvariantCulture);
        int threads = int.Parse(BenchModels.Option(args, "--threads", "2"), CultureInfo.InvariantCulture);
        string shape = BenchModels.Option(args, "--shape", "");
        string model = BenchModels.Option(args, "--model", "") is { Length: > 0 } m ? m
            : shape.Length > 0 ? BenchModels.Get(shape, Enum.Parse<Strata.Tensors.GgmlType>(BenchModels.Option(args, "--type", "q4_0"), true))
            : DefaultModel.Find() ?? throw new FileNotFoundException($"the default model ({DefaultModel.FileName}) is not beside the benchmark; pass --model or --shape");
        return RunAsync(model, store, tokens, rounds, threads).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(string model, string store, int tokens, int rounds, int threads)
    {
        Strata.Kv.Redis.RedisKvTier.Register(); // before --kv-tiers names it
        StrataServer Server() => StrataServer.Create(new StrataServerOptions
        {
            ModelPath = model, Port = 0, Parallel = 1, Threads = threads, Context = tokens + 512,
            Kv = new Strata.Kv.KvCacheOptions { Warn = w => Console.Error.WriteLine("warning: " + w) }.WithTiers("remote=" + store, null),
        });
        await using var a = Server();
        await using var b = Server();
        await a.StartAsync();
        await b.StartAsync();
        using var httpA = new HttpClient { BaseAddress = a.Address, Timeout = TimeSpan.FromMinutes(5) };
        using var httpB = new HttpClient { BaseAddress = b.Address, Timeout = TimeSpan.FromMinutes(5) };
        foreach (var h in new[] { httpA, httpB }) await Ready(h);

        var ttftA = new List<double>();
        var ttftB = new List<double>();
        Console.WriteLine($"{Path.GetFileName(model)}, store {store}, about {tokens} tokens per conversation, {threads} threads per server");
        for (int round = -2; round < rounds; round++)
        {
            string text = await TextOf(httpA, round < 0 ? tokens * 9 / 10 : tokens, seed: 1000 + round);
            var turn1 = new JsonArray(Message("system", text), Message("user", "What is this about?"));
            var first = await Chat(httpA, turn1);
            await Task.Delay(1000); // A's blocks reach the store behind its token loop
            var turn2 = (JsonArray)turn1.DeepClone();
            turn2.Add(Message("assistant", first.Text));
            turn2.Add(Message("user", "And then?"));
            var second = await Chat(httpB, turn2);
            if (round < 0) continue;
            ttftA.Add(first.TtftMs);
            ttftB.Add(second.TtftMs);
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
                "round {0}: A computes {1} tokens in {2:F0} ms; B, {3} tokens from the store, first token in {4:F1} ms ({5:F1}x)",
                round + 1, first.PromptTokens, first.TtftMs, second.CachedTokens, second.TtftMs, first.TtftMs / second.TtftMs));
        }
        double ma = BenchModels.Median(ttftA), mb = BenchModels.Median(ttftB);
        double best = ttftA.Zip(ttftB, (x, y) => x / y).Max();
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
            "median time to first token: A recomputing {0:F0} ms, B from the store {1:F1} ms: {2:F1}x (best round {3:F1}x)", ma, mb, ma / mb, best));
        return 0;
    }

    private static async Task Ready(HttpClient http)
    {
        var clock = Stopwatch.StartNew();
        while ((int)(await http.GetAsync("/health")).StatusCode != 200)
        {
            if (clock.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException("a server did not become ready");
            await Task.Delay(50);
        }
    }

    private static JsonObject Message(string role, string content) => new() { ["role"] = role, ["content"] = content };

    private static readonly string[] Words =
    [
        "the", "river", "carried", "light", "across", "stone", "and", "morning", "city", "slowly", "woke", "under", "rain",
        "a", "merchant", "counted", "silver", "while", "children", "sang", "old", "songs", "of", "harvest", "wind", "north",
        "ships", "waited", "in", "harbor", "for", "news", "from", "distant", "kings", "who", "never", "came", "home", "again",
    ];

    /// <summary>About <paramref name="tokens"/> tokens of word salad, different for every seed (sized with /tokenize).</summary>
    private static async Task<string> TextOf(HttpClient http, int tokens, int seed)
    {
        var rng = new Random(seed);
        var sb = new StringBuilder();
        for (int i = 0; i < tokens * 2; i++) sb.Append(Words[rng.Next(Words.Length)]).Append(i % 17 == 16 ? ".\n" : " ");
        string all = sb.ToString(), text = all[..(tokens * 4)];
        for (int i = 0; i < 4; i++)
        {
            using var r = await http.PostAsync("/tokenize", new StringContent(new JsonObject { ["content"] = text }.ToJsonString(), Encoding.UTF8, "application/json"));
            int n = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("tokens").GetArrayLength();
            if (Math.Abs(n - tokens) < tokens / 50) break;
            text = all[..Math.Min(all.Length, (int)(text.Length * (double)tokens / n))];
        }
        return text;
    }

    private sealed record Streamed(double TtftMs, string Text, int PromptTokens, int CachedTokens);

    /// <summary>A streamed, greedy chat completion of up to 8 tokens: time to its first text (or finish), text, usage.</summary>
    private static async Task<Streamed> Chat(HttpClient http, JsonArray messages)
    {
        var body = new JsonObject
        {
            ["messages"] = messages.DeepClone(), ["max_tokens"] = 8, ["temperature"] = 0, ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
        };
        var clock = Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double ttft = -1;
        var text = new StringBuilder();
        int prompt = -1, cached = -1;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            if (line == "data: [DONE]") break;
            var chunk = JsonDocument.Parse(line[6..]).RootElement;
            if (chunk.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0)
            {
                var choice = choices[0];
                bool content = choice.GetProperty("delta").TryGetProperty("content", out var c) && c.GetString() is { Length: > 0 };
                bool finished = choice.TryGetProperty("finish_reason", out var f) && f.ValueKind == JsonValueKind.String;
                if (ttft < 0 && (content || finished)) ttft = clock.Elapsed.TotalMilliseconds;
                if (content) text.Append(c.GetString());
            }
            if (chunk.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
            {
                prompt = usage.GetProperty("prompt_tokens").GetInt32();
                cached = usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
            }
        }
        return new Streamed(ttft, text.ToString(), prompt, cached);
    }
}
