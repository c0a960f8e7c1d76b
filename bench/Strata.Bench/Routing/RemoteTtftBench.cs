using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Bench.SideBySide;
using Strata.Engine;
using Strata.Server.Hosting;
using Strata.Tests.Support;

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
        foreach (var s in new[] { a, b })
        {
            await s.StartAsync();
            await s.Host.Ready;
        }
        using var httpA = new HttpClient { BaseAddress = a.Address, Timeout = TimeSpan.FromMinutes(5) };
        using var httpB = new HttpClient { BaseAddress = b.Address, Timeout = TimeSpan.FromMinutes(5) };

        var ttftA = new List<double>();
        var ttftB = new List<double>();
        Console.WriteLine($"{Path.GetFileName(model)}, store {store}, about {tokens} tokens per conversation, {threads} threads per server");
        for (int round = -2; round < rounds; round++)
        {
            string text = await TextOf(httpA, round < 0 ? tokens * 9 / 10 : tokens, seed: 1000 + round);
            var turn1 = StreamedChat.Messages(("system", text), ("user", "What is this about?"));
            var first = await StreamedChat.Chat(httpA, turn1, 8);
            await Task.Delay(1000); // A's blocks reach the store behind its token loop
            var turn2 = (JsonArray)turn1.DeepClone();
            foreach (var m in StreamedChat.Messages(("assistant", first.Text), ("user", "And then?"))) turn2.Add(m!.DeepClone());
            var second = await StreamedChat.Chat(httpB, turn2, 8);
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

    private static readonly string[] Words =
    [
        "the", "river", "carried", "light", "across", "stone", "and", "morning", "city", "slowly", "woke", "under", "rain",
        "a", "merchant", "counted", "silver", "while", "children", "sang", "old", "songs", "of", "harvest", "wind", "north",
        "ships", "waited", "in", "harbor", "for", "news", "from", "distant", "kings", "who", "never", "came", "home", "again",
    ];

    /// <summary>About <paramref name="tokens"/> tokens of word salad, different for every seed.</summary>
    private static Task<string> TextOf(HttpClient http, int tokens, int seed)
    {
        var rng = new Random(seed);
        var sb = new StringBuilder();
        for (int i = 0; i < tokens * 2; i++) sb.Append(Words[rng.Next(Words.Length)]).Append(i % 17 == 16 ? ".\n" : " ");
        return StreamedChat.Fit(http, sb.ToString(), tokens);
    }
}
