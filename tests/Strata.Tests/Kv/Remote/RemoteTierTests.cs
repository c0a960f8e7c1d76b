using System.Diagnostics;
using StackExchange.Redis;
using Strata.Kv;
using Strata.Kv.Redis;
using Strata.Kv.Tiers;
using Strata.Tests.Support;

namespace Strata.Tests.Kv.Remote;

/// <summary>The remote tier on its own against real stores: embedded Garnet, redis-server, a 3-node Redis Cluster.</summary>
[Collection("RemoteStores")]
public class RemoteTierTests
{
    internal static readonly KvLayout Layout = new(Layers: 2, KvDim: 64, BlockTokens: 16);
    internal static readonly BlockHash Fingerprint = BlockHash.Digest("remote-tier-tests"u8);

    internal static RedisKvTier Tier(string url, List<string> warnings, BlockHash? fingerprint = null, Func<RedisKvTierOptions, RedisKvTierOptions>? tweak = null)
    {
        var o = RedisKvTierOptions.Parse(url);
        // These tests are about what the store holds, not latency: under the suite's parallel load on 2 cores the
        // first answers of a cold connection can miss the 500 ms default, so a url without a timeout gets 5 s.
        if (!url.Contains("timeout=", StringComparison.Ordinal)) o = o with { Timeout = TimeSpan.FromSeconds(5) };
        // Likewise the handshake with the in-process Garnet, whose answers wait on the test host's busy thread pool
        // (the 2 s default was missed once beside the F16 kernel tests): 10 s unless the url sets one.
        if (!url.Contains("connect-timeout=", StringComparison.Ordinal)) o = o with { ConnectTimeout = TimeSpan.FromSeconds(10) };
        o = tweak?.Invoke(o) ?? o;
        return new RedisKvTier(o, new KvTierContext(fingerprint ?? Fingerprint, Layout, "test", w => { lock (warnings) warnings.Add(w); }));
    }

    /// <summary>A chain of n block keys and a distinct payload for each.</summary>
    internal static (BlockHash[] Keys, byte[][] Blocks) Chain(int n, int seed)
    {
        var rng = new Random(seed);
        var keys = new BlockHash[n];
        var blocks = new byte[n][];
        var parent = Fingerprint;
        for (int i = 0; i < n; i++)
        {
            keys[i] = parent = BlockHash.Chain(parent, TestModels.RandomTokens(300, 16, seed * 1000 + i));
            rng.NextBytes(blocks[i] = new byte[Layout.BlockBytes]);
        }
        return (keys, blocks);
    }

    private static byte[][] ReadAll(RedisKvTier tier, BlockHash[] keys, out bool[] ok)
    {
        var into = keys.Select(_ => new byte[Layout.BlockBytes]).ToArray();
        ok = new bool[keys.Length];
        tier.ReadMany(keys, i => into[i], ok);
        return into;
    }

    private static void WriteAll(RedisKvTier tier, BlockHash[] keys, byte[][] blocks, List<string> warnings)
    {
        for (int i = 0; i < keys.Length; i++)
            Assert.True(tier.TryWrite(keys[i], blocks[i]), $"write {i} refused; the tier's warnings: {string.Join(" | ", warnings)}");
        Assert.True(tier.WaitForWrites(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void GarnetRoundTripAnswersAPrefixInOneBatch()
    {
        using var garnet = new GarnetStore();
        var warnings = new List<string>();
        using var tier = Tier(garnet.Url + "?ttl=1h", warnings);
        var (keys, blocks) = Chain(12, seed: 1);
        WriteAll(tier, keys[..8], blocks[..8], warnings);

        long trips = tier.RoundTrips;
        Assert.Equal(8, tier.CountLeading(keys));       // stops at the first block the store lacks
        Assert.Equal(trips + 1, tier.RoundTrips);       // twelve EXISTS, one round trip
        var read = ReadAll(tier, keys, out var ok);
        Assert.Equal(trips + 2, tier.RoundTrips);
        for (int i = 0; i < keys.Length; i++)
        {
            Assert.Equal(i < 8, ok[i]);
            if (i < 8) Assert.Equal(blocks[i], read[i]);
        }
        Assert.Empty(warnings);
        Assert.Equal(0, tier.Errors);

        // The key names the model and the block; the value is a compact checked record; the TTL is set.
        using var raw = ConnectionMultiplexer.Connect($"127.0.0.1:{garnet.Port}");
        var db = raw.GetDatabase();
        string key = $"strata:kv:v1:{Fingerprint}:{keys[0]}";
        Assert.Equal(key, (string)tier.KeyOf(keys[0])!);
        byte[] value = db.StringGet(key)!;
        Assert.Equal(KvBlockRecord.CompactBytes(Layout), value.Length);
        Assert.Equal("STRKVBLK"u8.ToArray(), value[..8]);
        var ttl = db.KeyTimeToLive(key);
        Assert.True(ttl > TimeSpan.FromMinutes(59) && ttl <= TimeSpan.FromHours(1), $"ttl {ttl}");

        // Another model's tier sees none of these blocks under the same hashes.
        using var other = Tier(garnet.Url, warnings, fingerprint: BlockHash.Digest("another model"u8));
        Assert.Equal(0, other.CountLeading(keys));
    }

    [Fact]
    public void GarbageUnderStrataKeysIsAMissCountedWarnedOnceAndDeleted()
    {
        using var garnet = new GarnetStore();
        var warnings = new List<string>();
        using var tier = Tier(garnet.Url, warnings);
        var (keys, blocks) = Chain(6, seed: 2);
        WriteAll(tier, keys, blocks, warnings);
        using var raw = ConnectionMultiplexer.Connect($"127.0.0.1:{garnet.Port}");
        var db = raw.GetDatabase();
        byte[] Value(int i) => (byte[])db.StringGet(tier.KeyOf(keys[i]))!;

        var random = new byte[Value(0).Length];
        new Random(3).NextBytes(random);
        var flipped = Value(1);
        flipped[^1] ^= 0x40;                                      // one bit of the payload
        var truncated = Value(2)[..^100];
        var otherKey = Value(4);                                  // a valid record, but of another block
        db.StringSet(tier.KeyOf(keys[0]), random);
        db.StringSet(tier.KeyOf(keys[1]), flipped);
        db.StringSet(tier.KeyOf(keys[2]), truncated);
        db.StringSet(tier.KeyOf(keys[3]), otherKey);
        db.StringSet(tier.KeyOf(keys[5]), "hello"u8.ToArray());

        var read = ReadAll(tier, keys, out var ok);
        Assert.Equal([false, false, false, false, true, false], ok);
        Assert.Equal(blocks[4], read[4]);
        Assert.Equal(5, tier.CorruptBlocks);
        Assert.Single(warnings);
        Assert.Contains("treated as misses", warnings[0]);
        // Deleted, so the next writer of the block replaces the garbage.
        var clock = Stopwatch.StartNew();
        while (db.KeyExists(tier.KeyOf(keys[0])) && clock.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(10);
        Assert.False(db.KeyExists(tier.KeyOf(keys[0])));
        Assert.True(db.KeyExists(tier.KeyOf(keys[4])));
    }

    [Fact]
    public void AStoreThatIsDownCostsMissesAndOneWarningNeverAnError()
    {
        var warnings = new List<string>();
        int port = LoopbackPorts.Free();   // nothing listens here
        var clock = Stopwatch.StartNew();
        using var tier = Tier($"redis://127.0.0.1:{port}?timeout=200ms&connect-timeout=300ms", warnings);
        var (keys, blocks) = Chain(4, seed: 4);
        for (int round = 0; round < 50; round++)
        {
            Assert.Equal(0, tier.CountLeading(keys));
            Assert.False(tier.TryWrite(keys[0], blocks[0]));
            ReadAll(tier, keys, out var ok);
            Assert.DoesNotContain(true, ok);
        }
        // 150 operations on a dead store: refused by the open breaker, not each waiting for a timeout.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        Assert.Single(warnings);
        Assert.Contains("generation goes on", warnings[0]);
        Assert.False(tier.Available);
        Assert.True(tier.Errors >= 150);
    }

    [Fact]
    public void ATierComesBackWhenItsStoreDoes()
    {
        var warnings = new List<string>();
        var garnet = new GarnetStore();
        int port = garnet.Port;
        using var tier = Tier(garnet.Url + "?timeout=300ms", warnings, tweak: o => o with { MinBackoff = TimeSpan.FromMilliseconds(50), MaxBackoff = TimeSpan.FromMilliseconds(200) });
        var (keys, blocks) = Chain(3, seed: 5);
        WriteAll(tier, keys[..1], blocks[..1], warnings);
        Assert.Equal(1, tier.CountLeading(keys));

        garnet.Kill();
        var clock = Stopwatch.StartNew();
        while (tier.Available && clock.Elapsed < TimeSpan.FromSeconds(20)) { tier.CountLeading(keys); Thread.Sleep(10); }
        Assert.False(tier.Available);
        Assert.Equal(0, tier.CountLeading(keys));

        // A new (empty) store on the same port: after the back-off a trial succeeds and the tier is used again.
        using var again = new GarnetServerOn(port);
        clock.Restart();
        while (!tier.Available && clock.Elapsed < TimeSpan.FromSeconds(30)) { tier.CountLeading(keys); Thread.Sleep(20); }
        Assert.True(tier.Available, "the tier did not come back");
        WriteAll(tier, keys, blocks, warnings);
        Assert.Equal(3, tier.CountLeading(keys));
        Assert.Single(warnings);
    }

    /// <summary>Garnet on a given port (to restart a store where a client expects it).</summary>
    private sealed class GarnetServerOn : IDisposable
    {
        private readonly Garnet.GarnetServer _server;

        public GarnetServerOn(int port)
        {
            _server = new Garnet.GarnetServer(["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1"]);
            _server.Start();
        }

        public void Dispose() => _server.Dispose();
    }

    [RedisFact]
    public void RedisServerRoundTripAndGarbage()
    {
        using var redis = RedisServers.Single();
        var warnings = new List<string>();
        using var tier = Tier(redis.Url, warnings);
        var (keys, blocks) = Chain(10, seed: 6);
        WriteAll(tier, keys, blocks, warnings);
        Assert.Equal(10, tier.CountLeading(keys));
        var read = ReadAll(tier, keys, out var ok);
        Assert.All(ok, Assert.True);
        for (int i = 0; i < keys.Length; i++) Assert.Equal(blocks[i], read[i]);

        using var raw = ConnectionMultiplexer.Connect($"127.0.0.1:{redis.Ports[0]}");
        raw.GetDatabase().StringSet(tier.KeyOf(keys[3]), new byte[KvBlockRecord.CompactBytes(Layout)]);
        ReadAll(tier, keys, out ok);
        Assert.False(ok[3]);
        Assert.Equal(1, tier.CorruptBlocks);
        Assert.Single(warnings);
    }

    [RedisFact]
    public void ClusterSpreadsAPrefixOverItsNodesAndAnswersInOneBatch()
    {
        using var cluster = RedisServers.Cluster();
        var warnings = new List<string>();
        using var tier = Tier(cluster.Url, warnings);
        Assert.Contains("cluster, 3 nodes", tier.Describe());
        var (keys, blocks) = Chain(48, seed: 7);
        WriteAll(tier, keys, blocks, warnings);

        // The keys of one prefix live on every node (no hash tag pins them to one slot).
        foreach (int port in cluster.Ports)
        {
            var (_, output) = RedisServers.Cli(["-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "dbsize"], TimeSpan.FromSeconds(5));
            Assert.True(int.Parse(output.Trim(), System.Globalization.CultureInfo.InvariantCulture) > 0, $"node {port} holds no block");
        }
        long trips = tier.RoundTrips;
        Assert.Equal(48, tier.CountLeading(keys));
        var read = ReadAll(tier, keys, out var ok);
        Assert.Equal(trips + 2, tier.RoundTrips);
        Assert.All(ok, Assert.True);
        for (int i = 0; i < keys.Length; i++) Assert.Equal(blocks[i], read[i]);

        // One node gone: its blocks are misses, the rest still read, one warning.
        cluster.Kill(2);
        var clock = Stopwatch.StartNew();
        bool[] after = [];
        while (clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            ReadAll(tier, keys, out after);
            if (!after.All(x => x)) break;
            Thread.Sleep(50);
        }
        Assert.Contains(false, after);
        Assert.True(warnings.Count <= 1, string.Join('\n', warnings));
    }
}

/// <summary>The breaker's states on a stepped clock: back-off doubling to its cap, one trial at a time, one warning.</summary>
public class CircuitBreakerTests
{
    [Fact]
    public void BacksOffExponentiallyAndWarnsOncePerOutage()
    {
        long now = 0;
        long Sec(double s) => (long)(s * Stopwatch.Frequency);
        var warnings = new List<string>();
        var b = new CircuitBreaker(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(4), warnings.Add, () => now);
        Assert.True(b.TryEnter());
        b.Failure("down");
        Assert.False(b.IsClosed);
        Assert.False(b.TryEnter());
        now += Sec(1.01);
        Assert.True(b.TryEnter());       // the trial
        Assert.False(b.TryEnter());      // only one at a time
        b.Failure("still down");
        Assert.Equal(TimeSpan.FromSeconds(2), b.Backoff);
        now += Sec(1.5);
        Assert.False(b.TryEnter());
        now += Sec(0.6);
        Assert.True(b.TryEnter());
        b.Failure("still down");
        Assert.Equal(TimeSpan.FromSeconds(4), b.Backoff);
        now += Sec(4.1);
        Assert.True(b.TryEnter());
        b.Failure("still down");
        Assert.Equal(TimeSpan.FromSeconds(4), b.Backoff);   // capped
        now += Sec(4.1);
        Assert.True(b.TryEnter());
        b.Success();
        Assert.True(b.IsClosed);
        Assert.Equal(TimeSpan.FromSeconds(1), b.Backoff);
        Assert.Equal(["down"], warnings);

        // A second outage soon after is not another warning; one after the interval is.
        b.Failure("down again");
        Assert.Single(warnings);
        now += Sec(1.1);
        Assert.True(b.TryEnter());
        b.Success();
        now += Sec(CircuitBreaker.WarningInterval.TotalSeconds + 1);
        b.Failure("down much later");
        Assert.Equal(["down", "down much later"], warnings);
    }
}
