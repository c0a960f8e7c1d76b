using StackExchange.Redis;
using Strata.Tests.Support;
using static Strata.Tests.Kv.Remote.SharedStoreServerTests;

namespace Strata.Tests.Kv.Remote;

/// <summary>Time-to-first-token comparisons run alone: no other test's compute shares the cores while they measure.</summary>
[CollectionDefinition("RemoteTtft", DisableParallelization = true)]
public sealed class RemoteTtftCollection;

/// <summary>
/// A 2,000-token conversation started on server A continues on server B, which reads A's blocks from the shared store
/// instead of recomputing them: B's time to first token is at least 20× shorter than A's recomputation.
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

    private async Task ConversationMovesBetweenServers(string url, string storeConfig)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var a = await Serve(url, ctx: 2560);
        using var b = await Serve(url, ctx: 2560);
        using var store = await ConnectionMultiplexer.ConnectAsync(storeConfig);
        // Warm both — JIT, thread pools — along the paths measured: long prompts and continuations from cached blocks,
        // on text the conversations do not share. Until then the first requests of a new process run slower code.
        foreach (var s in new[] { a, b })
        {
            await SharedStoreServerTests.Chat(s.Http, SharedStoreServerTests.Messages(("user", "Hi")), 2);
            for (int round = 0; round < 3; round++)
            {
                var warm = SharedStoreServerTests.Messages(("user", await TextOf(s.Http, 400, from: 40_000 + 8_000 * round + (s == a ? 0 : 4_000))));
                var reply = await SharedStoreServerTests.Chat(s.Http, warm, 2);
                warm.Add(new System.Text.Json.Nodes.JsonObject { ["role"] = "assistant", ["content"] = reply.Text });
                warm.Add(new System.Text.Json.Nodes.JsonObject { ["role"] = "user", ["content"] = "Amen." });
                await SharedStoreServerTests.Chat(s.Http, warm, 2);
            }
        }
        output.WriteLine($"servers started and warmed in {clock.Elapsed.TotalSeconds:F1} s");
        // The ratio of two times measured in one run; another conversation is tried (three at most) if a load spike on this shared
        // machine hit the short one (the first time is seconds long, the second tens of milliseconds).
        var attempts = new List<string>();
        double best = 0;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            string chapter = await TextOf(a.Http, 2000, from: attempt * 10_000);
            var turn1 = SharedStoreServerTests.Messages(("system", chapter), ("user", "Psalms 23:1"));
            var first = await SharedStoreServerTests.Chat(a.Http, turn1, 8);
            Assert.InRange(first.PromptTokens, 1900, 2200);
            Assert.Equal(0, first.CachedTokens);
            WaitForBlocks(store, first.PromptTokens / 16 * (attempt + 1));

            // The next turn goes to B, which has never seen the conversation.
            var turn2 = SharedStoreServerTests.Messages(("system", chapter), ("user", "Psalms 23:1"), ("assistant", first.Text), ("user", "And the next verse?"));
            var second = await SharedStoreServerTests.Chat(b.Http, turn2, 8);
            Assert.True(second.CachedTokens >= first.PromptTokens - 16, $"cached {second.CachedTokens} of {second.PromptTokens}");
            double ratio = first.TtftMs / second.TtftMs;
            attempts.Add($"{first.TtftMs:F0} ms recomputing {first.PromptTokens} tokens on A, {second.TtftMs:F0} ms on B with {second.CachedTokens} from the store ({ratio:F1}x)");
            best = Math.Max(best, ratio);
            if (ratio >= 20) break;
        }
        Assert.True(await b.Metric("strata_kv_tier_hits_total{tier=\"remote\"}") >= 1900 / 16);
        foreach (var line in attempts) output.WriteLine(line);
        Assert.True(best >= 20, "time to first token: " + string.Join("; ", attempts));
        Assert.Equal(0, RemoteWarnings(a) + RemoteWarnings(b));
    }
}
