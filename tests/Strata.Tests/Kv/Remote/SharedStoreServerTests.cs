using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using StackExchange.Redis;
using Strata.Tests.Support;

namespace Strata.Tests.Kv.Remote;

/// <summary>
/// Two real <c>strata serve</c> processes sharing one store: a long conversation started on A continues on B from
/// the blocks A computed; a store killed mid-run, or garbage under Strata's keys, costs recomputation only. Against
/// embedded Garnet and a 3-node Redis Cluster.
/// </summary>
[Collection("RemoteStores")]
public class SharedStoreServerTests
{
    private static string ModelPath => Strata.Tests.Server.ServerFixture.ModelPath;

    internal static Task<ServeProcess> Serve(string storeUrl, int ctx = 512) =>
        ServeProcess.StartAsync(["serve", "-m", ModelPath, "-c", ctx.ToString(System.Globalization.CultureInfo.InvariantCulture), "-np", "1", "-t", "2",
            "--kv-tiers", "remote=" + storeUrl]);

    internal static JsonArray Messages(params (string Role, string Content)[] m) => StreamedChat.Messages(m);

    internal static Task<Streamed> Chat(HttpClient http, JsonArray messages, int maxTokens) => StreamedChat.Chat(http, messages, maxTokens);

    /// <summary>About <paramref name="tokens"/> tokens of real text (the held-out Bible chapters), from character <paramref name="from"/>.</summary>
    internal static async Task<string> TextOf(HttpClient http, int tokens, int from = 0) =>
        await StreamedChat.Fit(http, (await File.ReadAllTextAsync(Path.Combine(Strata.Tests.DefaultModel.DefaultModelTests.RepoRoot(), "models", "heldout.txt")))[from..], tokens);

    /// <summary>Keys under Strata's prefix in every node of the store.</summary>
    internal static RedisKey[] StrataKeys(ConnectionMultiplexer store) =>
        store.GetServers().Where(s => !s.IsReplica && s.IsConnected).SelectMany(s => s.Keys(pattern: "strata:kv:v1:*", pageSize: 1000)).ToArray();

    /// <summary>Waits until the store holds at least <paramref name="blocks"/> of Strata's blocks (writes are behind the token loop).</summary>
    internal static void WaitForBlocks(ConnectionMultiplexer store, int blocks, string? writerLog = null)
    {
        var clock = Stopwatch.StartNew();
        while (StrataKeys(store).Length < blocks)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the store holds {StrataKeys(store).Length} blocks, {blocks} expected" +
                (string.IsNullOrEmpty(writerLog) ? "" : $"; the writer said: {writerLog}"));
            Thread.Sleep(20);
        }
    }

    internal static int RemoteWarnings(ServeProcess s) => s.Log.Count(l => l.Contains("kv remote tier", StringComparison.Ordinal));

    [Fact]
    public async Task KillingTheGarnetStoreMidRunSlowsRequestsButFailsNone()
    {
        var garnet = new GarnetStore();
        try
        {
            await StoreDiesMidRun(garnet.Url, $"127.0.0.1:{garnet.Port}", kill: garnet.Kill);
        }
        finally
        {
            garnet.Dispose();
        }
    }

    [RedisFact]
    public async Task KillingAClusterNodeMidRunSlowsRequestsButFailsNone()
    {
        using var cluster = RedisServers.Cluster();
        await StoreDiesMidRun(cluster.Url, string.Join(',', cluster.Ports.Select(p => $"127.0.0.1:{p}")), kill: () => cluster.Kill(1));
    }

    private static async Task StoreDiesMidRun(string url, string storeConfig, Action kill)
    {
        using var a = await Serve(url);
        using var b = await Serve(url);
        using (var store = await ConnectionMultiplexer.ConnectAsync(storeConfig))
        {
            var shared = Messages(("system", await TextOf(a.Http, 200)), ("user", "Genesis 1:1"));
            var onA = await Chat(a.Http, shared, 12);
            WaitForBlocks(store, onA.PromptTokens / 16);
            var onB = await Chat(b.Http, shared, 12);
            Assert.True(onB.CachedTokens >= onA.PromptTokens - 16);
            Assert.Equal(onA.Text, onB.Text);
        }

        // A stream is running on A when the store goes away.
        var running = Chat(a.Http, Messages(("system", await TextOf(a.Http, 300)), ("user", "Exodus 2:1")), 48);
        kill();
        var during = await running;
        Assert.True(during.Text.Length > 0);

        // New conversations on both still complete, B's answer the one A computes (every block recomputed or in DRAM).
        for (int i = 0; i < 3; i++)
        {
            var fresh = Messages(("system", (await TextOf(a.Http, 150 + 40 * i)) + $" ({i})"), ("user", "Numbers 6:24"));
            var x = await Chat(a.Http, fresh, 8);
            var y = await Chat(b.Http, fresh, 8);
            Assert.Equal(x.Text, y.Text);
        }
        double errors = await a.Metric("strata_kv_tier_errors_total{tier=\"remote\"}") + await b.Metric("strata_kv_tier_errors_total{tier=\"remote\"}");
        Assert.True(errors > 0, "the store's failures were not counted");
        // At most one warning per server for the outage, however many blocks and requests it cost.
        Assert.InRange(RemoteWarnings(a), 0, 1);
        Assert.InRange(RemoteWarnings(b), 0, 1);
        Assert.Equal(1, Math.Max(RemoteWarnings(a), RemoteWarnings(b)));
    }

    [Fact]
    public async Task GarbageUnderStrataKeysInGarnetIsRecomputedNotUsed()
    {
        using var garnet = new GarnetStore();
        await GarbageIsAMiss(garnet.Url, $"127.0.0.1:{garnet.Port}");
    }

    [RedisFact]
    public async Task GarbageUnderStrataKeysInARedisClusterIsRecomputedNotUsed()
    {
        using var cluster = RedisServers.Cluster();
        await GarbageIsAMiss(cluster.Url, string.Join(',', cluster.Ports.Select(p => $"127.0.0.1:{p}")));
    }

    private static async Task GarbageIsAMiss(string url, string storeConfig)
    {
        using var a = await Serve(url);
        using var store = await ConnectionMultiplexer.ConnectAsync(storeConfig);
        var conversation = Messages(("system", await TextOf(a.Http, 300)), ("user", "Ruth 1:16"));
        var onA = await Chat(a.Http, conversation, 16);
        WaitForBlocks(store, onA.PromptTokens / 16);

        // Every value under Strata's keys replaced: random bytes, a truncated record, a record with one bit flipped.
        var db = store.GetDatabase();
        var rng = new Random(16);
        int n = 0;
        foreach (var key in StrataKeys(store))
        {
            byte[] value = db.StringGet(key)!;
            switch (n++ % 3)
            {
                case 0: rng.NextBytes(value); break;
                case 1: value = value[..(value.Length / 2)]; break;
                default: value[rng.Next(80, value.Length)] ^= 0x10; break;
            }
            db.StringSet(key, value);
        }

        using var b = await Serve(url);
        var onB = await Chat(b.Http, conversation, 16);
        Assert.Equal(0, onB.CachedTokens);
        Assert.Equal(onA.Text, onB.Text);
        Assert.True(await b.Metric("strata_kv_tier_corrupt_blocks_total{tier=\"remote\"}") >= 1);
        Assert.Equal(1, RemoteWarnings(b));
    }

    [Fact]
    public void StrataRunWritesToAndReadsFromTheStoreAndRunsWithoutIt()
    {
        using var garnet = new GarnetStore();
        string[] Args(string url) => ["run", "-m", ModelPath, "-p", "In the beginning God created the heaven and the earth. And the earth was without form, and void.",
            "-n", "8", "--temp", "0", "--json", "--kv-tiers", "remote=" + url];
        // Generous timeouts: this is about what reaches the store, and under the suite's parallel load on 2 cores a
        // fresh process can take longer than the defaults (2 s to connect, 500 ms a write) and would then rightly
        // run without the store. The store runs inside the test host, whose thread pool the suite's parallel tests
        // share, so its answers can lag by seconds (one CI run warned with 5 s): 30 s.
        string url = garnet.Url + "?timeout=30s&connect-timeout=30s";
        var first = StrataCli.Run(Args(url));
        Assert.True(first.ExitCode == 0, first.Stderr);
        using var store = ConnectionMultiplexer.Connect($"127.0.0.1:{garnet.Port}");
        int prompt = JsonDocument.Parse(first.Stdout).RootElement.GetProperty("prompt_tokens").GetArrayLength();
        WaitForBlocks(store, prompt / 16, first.Stderr);
        var second = StrataCli.Run(Args(url));
        Assert.True(second.ExitCode == 0, second.Stderr);
        var again = JsonDocument.Parse(second.Stdout).RootElement;
        Assert.Equal(JsonDocument.Parse(first.Stdout).RootElement.GetProperty("tokens").ToString(), again.GetProperty("tokens").ToString());
        // Every full block from the store; a prompt ending on a block boundary computes its last token again.
        Assert.Equal(prompt % 16 == 0 ? prompt - 1 : prompt / 16 * 16, again.GetProperty("cached_tokens").GetInt32());
        Assert.Equal(prompt / 16, again.GetProperty("cache_hits_by_tier").GetProperty("remote").GetInt32());
        // The whole stderr in the message: a warning here under the suite's load should say which operation failed.
        Assert.False((first.Stderr + second.Stderr).Contains("warning", StringComparison.Ordinal), first.Stderr + second.Stderr);

        // No store at that address: the same answer, one warning, exit code 0.
        var without = StrataCli.Run(Args($"redis://127.0.0.1:{LoopbackPorts.Free()}?connect-timeout=300ms"));
        Assert.Equal(0, without.ExitCode);
        Assert.Equal(JsonDocument.Parse(first.Stdout).RootElement.GetProperty("tokens").ToString(), JsonDocument.Parse(without.Stdout).RootElement.GetProperty("tokens").ToString());
        Assert.Single(without.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.Contains("kv remote tier", StringComparison.Ordinal));
    }
}
