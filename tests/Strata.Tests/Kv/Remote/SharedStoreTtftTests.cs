using StackExchange.Redis;
using Strata.Tests.Support;
using static Strata.Tests.Kv.Remote.SharedStoreServerTests;

namespace Strata.Tests.Kv.Remote;

/// <summary>Time-to-first-token comparisons run alone: no other test's compute shares the cores while they measure.</summary>
[CollectionDefinition("RemoteTtft", DisableParallelization = true)]
public sealed class RemoteTtftCollection;

/// <summary>
/// A 2,000-token conversation started on server A continues on server B, which reads A's blocks from the shared store
/// instead of recomputing them: B computes only what follows the stored prefix, and its first token comes sooner.
/// How much sooner is the benchmark's to say (`kv-remote-ttft`, docs/SCALE.md: about 25× in the median on the default
/// model, quiet machine); here a ratio of two times on a shared machine only has to show that the store is used and
/// not slower than recomputing — at least 4× in the best of three conversations.
/// </summary>
[Collection("RemoteTtft")]
public class SharedStoreTtftTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task AConversationStartedOnAContinuesOnBFromTheSharedGarnetStore()
    {
        using var garnet = new GarnetStore();
        await ConversationMovesBetweenServers(garnet.Url, $"127.0.0.1:{garnet.Port}");
    }

    [RedisFact]
    public async Task AConversationStartedOnAContinuesOnBFromARedisCluster()
    {
        using var cluster = RedisServers.Cluster();
        await ConversationMovesBetweenServers(cluster.Url, string.Join(',', cluster.Ports.Select(p => $"127.0.0.1:{p}")));
    }

    /// <summary>The store's count of Strata's blocks once writes behind earlier requests have stopped arriving.</summary>
    private static int Settled(ConnectionMultiplexer store)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int last = -1, now = StrataKeys(store).Length;
        while (now != last && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            Thread.Sleep(100);
            (last, now) = (now, StrataKeys(store).Length);
        }
        return now;
    }

    private async Task ConversationMovesBetweenServers(string url, string storeConfig)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var a = await Serve(url, ctx: 2560);
        using var b = await Serve(url, ctx: 2560);
        using var store = await ConnectionMultiplexer.ConnectAsync(storeConfig);
        // Warm both — JIT, thread pools — along the paths measured: long prompts, continuations from cached blocks, and
        // on B continuations from the store as deep as the measured ones, on text the measured conversations do not share.
        // Until then the first requests of a new process run slower code.
        foreach (var (tokens, from) in new[] { (1800, 64_000), (400, 72_000), (400, 74_000) })
        {
            var warm = SharedStoreServerTests.Messages(("user", await TextOf(a.Http, tokens, from)));
            var reply = await SharedStoreServerTests.Chat(a.Http, warm, 2);
            await SharedStoreServerTests.Chat(b.Http, SharedStoreServerTests.Messages(("user", "Hi")), 2);
            warm.Add(new System.Text.Json.Nodes.JsonObject { ["role"] = "assistant", ["content"] = reply.Text });
            warm.Add(new System.Text.Json.Nodes.JsonObject { ["role"] = "user", ["content"] = "Amen." });
            await SharedStoreServerTests.Chat(a.Http, warm, 2);   // from A's own cache
            Settled(store);
            await SharedStoreServerTests.Chat(b.Http, warm, 2);   // from the store
        }
        output.WriteLine($"servers started and warmed in {clock.Elapsed.TotalSeconds:F1} s");
        // The ratio of two times measured in one run; another conversation is tried (three at most) if a load spike on this shared
        // machine hit the short one (the first time is about a second long, the second tens of milliseconds).
        var attempts = new List<string>();
        double best = 0;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            string chapter = await TextOf(a.Http, 2000, from: attempt * 8_000);
            int before = Settled(store);
            var turn1 = SharedStoreServerTests.Messages(("system", chapter), ("user", "Psalms 23:1"));
            var first = await SharedStoreServerTests.Chat(a.Http, turn1, 8);
            Assert.InRange(first.PromptTokens, 1900, 2200);
            Assert.Equal(0, first.CachedTokens);
            WaitForBlocks(store, before + first.PromptTokens / 16);

            // The next turn goes to B, which has never seen the conversation.
            var turn2 = SharedStoreServerTests.Messages(("system", chapter), ("user", "Psalms 23:1"), ("assistant", first.Text), ("user", "And the next verse?"));
            double remoteHits = await b.Metric("strata_kv_tier_hits_total{tier=\"remote\"}");
            var second = await SharedStoreServerTests.Chat(b.Http, turn2, 8);
            Assert.True(second.CachedTokens >= first.PromptTokens - 16, $"cached {second.CachedTokens} of {second.PromptTokens}");
            Assert.True(await b.Metric("strata_kv_tier_hits_total{tier=\"remote\"}") - remoteHits >= (first.PromptTokens - 16) / 16, "B's prefix did not come from the store");
            double ratio = first.TtftMs / second.TtftMs;
            attempts.Add($"{first.TtftMs:F0} ms recomputing {first.PromptTokens} tokens on A, {second.TtftMs:F0} ms on B with {second.CachedTokens} from the store ({ratio:F1}x)");
            best = Math.Max(best, ratio);
            if (ratio >= 4) break;
        }
        foreach (var line in attempts) output.WriteLine(line);
        Assert.True(best >= 4, "time to first token: " + string.Join("; ", attempts));
        Assert.Equal(0, RemoteWarnings(a) + RemoteWarnings(b));
    }
}
