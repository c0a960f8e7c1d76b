using StackExchange.Redis;
using Strata.Engine;
using Strata.Kv;
using Strata.Kv.Redis;
using Strata.Tests.Support;

namespace Strata.Tests.Kv.Remote;

/// <summary>
/// Two models in one test process stand for two servers: blocks one computes are found by the other through the
/// store, and a continuation from them is bit-identical to computing it from scratch.
/// </summary>
[Collection("RemoteStores")]
public class RemotePrefixTests
{
    private static readonly ModelSpec Spec = new("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 300);

    static RemotePrefixTests() => RedisKvTier.Register();

    private static Model Load(string path, string tiers, List<string> warnings, string? kvDir = null) =>
        Model.Load(path, new ModelOptions
        {
            Threads = 2,
            Context = 256,
            Kv = new KvCacheOptions { Warn = w => { lock (warnings) warnings.Add(w); } }.WithTiers(tiers, kvDir),
        });

    private static (float[] Logits, PrefixReuse Reuse) LastLogits(Model model, int[] tokens)
    {
        var logits = new float[model.Config.VocabSize];
        using var seq = model.NewSequence();
        var reuse = model.KvCache.AttachPrefix(seq, tokens);
        for (int i = seq.Length; i < tokens.Length; i += model.Transformer.MaxBatch)
        {
            int n = Math.Min(model.Transformer.MaxBatch, tokens.Length - i);
            model.Transformer.Forward(tokens.AsSpan(i, n), seq, logits);
            model.KvCache.Commit(seq);
        }
        return (logits, reuse);
    }

    // The default 500 ms answer time is for serving; with the whole suite running on two cores a lookup once took
    // longer and was (correctly) a miss. These tests are about reuse, so they give the store time to answer.
    private static string Patient(GarnetStore g) => g.Url + "?timeout=10s&connect-timeout=10s";

    private static RedisKvTier RemoteOf(Model m) => (RedisKvTier)m.KvCache.LowerTiers.Single(l => l.Name == "remote").Tier;

    /// <summary>Waits until the model's completed blocks are in the store.</summary>
    private static void Flush(Model m)
    {
        Assert.True(m.KvCache.Flush(TimeSpan.FromSeconds(20)));
        Assert.True(RemoteOf(m).WaitForWrites(TimeSpan.FromSeconds(20)));
    }

    private static float[] Scratch(string path, int[] tokens)
    {
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256 });
        return LastLogits(model, tokens).Logits;
    }

    [Fact]
    public void BlocksComputedByOneModelAreReusedByAnotherThroughTheStore()
    {
        using var dir = new TempDir();
        using var garnet = new GarnetStore();
        string path = TestModels.Write(Spec, dir.Path);
        var tokens = TestModels.RandomTokens(Spec.Vocab, 70, seed: 1);
        var expected = Scratch(path, tokens);
        var warnings = new List<string>();

        using (var a = Load(path, "remote=" + Patient(garnet), warnings))
        {
            var (first, none) = LastLogits(a, tokens);
            Assert.Equal(0, none.Tokens);
            Assert.Equal(expected, first);
            Flush(a);
        }
        using var b = Load(path, "remote=" + Patient(garnet), warnings);
        var (again, reuse) = LastLogits(b, tokens);
        Assert.Equal(64, reuse.Tokens);
        Assert.Equal(4, reuse.BlocksByTier["remote"]);
        Assert.Equal(expected, again);
        Assert.Empty(warnings);

        // Read into DRAM, the blocks are DRAM hits from then on.
        var (third, dram) = LastLogits(b, tokens);
        Assert.Equal(4, dram.BlocksByTier["dram"]);
        Assert.Equal(0, dram.BlocksByTier["remote"]);
        Assert.Equal(expected, third);
    }

    [Fact]
    public void APrefixContinuesInTheStoreWhereTheLocalTiersEnd()
    {
        using var dir = new TempDir();
        using var kvDir = new TempDir();
        using var garnet = new GarnetStore();
        string path = TestModels.Write(Spec, dir.Path);
        var tokens = TestModels.RandomTokens(Spec.Vocab, 100, seed: 2);
        var expected = Scratch(path, tokens);
        var warnings = new List<string>();
        using (var a = Load(path, "remote=" + Patient(garnet), warnings))
        {
            LastLogits(a, tokens);
            Flush(a);
        }
        // B has the first two blocks in DRAM (it ran the first 40 tokens) and its own ssd tier: blocks 0–1 from DRAM,
        // 2–5 from the store, in one lookup.
        using var b = Load(path, "ssd=64MiB,remote=" + garnet.Url, warnings, kvDir.Path);
        LastLogits(b, tokens[..40]);
        var (logits, reuse) = LastLogits(b, tokens);
        Assert.Equal(96, reuse.Tokens);
        Assert.Equal(2, reuse.BlocksByTier["dram"]);
        Assert.Equal(4, reuse.BlocksByTier["remote"]);
        Assert.Equal(expected, logits);
        Assert.Empty(warnings);
    }

    [Fact]
    public void GarbageInTheStoreIsRecomputedNotUsed()
    {
        using var dir = new TempDir();
        using var garnet = new GarnetStore();
        string path = TestModels.Write(Spec, dir.Path);
        var tokens = TestModels.RandomTokens(Spec.Vocab, 70, seed: 3);
        var expected = Scratch(path, tokens);
        var warnings = new List<string>();
        using (var a = Load(path, "remote=" + Patient(garnet), warnings))
        {
            LastLogits(a, tokens);
            Flush(a);
        }
        // Overwrite block 1 with a record whose payload differs by one byte, and block 2 with random bytes.
        using var raw = ConnectionMultiplexer.Connect($"127.0.0.1:{garnet.Port}");
        var db = raw.GetDatabase();
        var server = raw.GetServer("127.0.0.1", garnet.Port);
        var keys = server.Keys(pattern: "strata:kv:v1:*").ToArray();
        Assert.Equal(4, keys.Length);
        using var b = Load(path, "remote=" + Patient(garnet), warnings);
        var remote = RemoteOf(b);
        var chain = new List<BlockHash>();
        var parent = b.KvCache.Fingerprint;
        for (int i = 0; i < 4; i++) chain.Add(parent = BlockHash.Chain(parent, tokens.AsSpan(i * 16, 16)));
        byte[] one = db.StringGet(remote.KeyOf(chain[1]))!;
        one[^7] ^= 1;
        db.StringSet(remote.KeyOf(chain[1]), one);
        db.StringSet(remote.KeyOf(chain[2]), System.Text.Encoding.ASCII.GetBytes("not a block at all"));

        var (logits, reuse) = LastLogits(b, tokens);
        Assert.Equal(1, reuse.BlocksByTier["remote"]);   // block 0 only: the prefix stops at the first bad block
        Assert.Equal(16, reuse.Tokens);
        Assert.Equal(expected, logits);
        Assert.True(remote.CorruptBlocks >= 1);
        Assert.Single(warnings);
    }

    [Fact]
    public void AStoreThatIsDownCostsOnlyRecomputation()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec, dir.Path);
        var tokens = TestModels.RandomTokens(Spec.Vocab, 70, seed: 4);
        var expected = Scratch(path, tokens);
        var warnings = new List<string>();
        using var a = Load(path, $"remote=redis://127.0.0.1:{LoopbackPorts.Free()}?timeout=200ms&connect-timeout=300ms", warnings);
        for (int round = 0; round < 3; round++)
        {
            using var fresh = Load(path, $"remote=redis://127.0.0.1:{LoopbackPorts.Free()}?timeout=200ms&connect-timeout=300ms", warnings);
            var (logits, reuse) = LastLogits(fresh, tokens);
            Assert.Equal(0, reuse.BlocksByTier["remote"]);
            Assert.Equal(expected, logits);
        }
        var (first, _) = LastLogits(a, tokens);
        Assert.Equal(expected, first);
        Assert.False(RemoteOf(a).Available);
        // One warning per tier (four tiers here, each on its own dead port), not one per block or request.
        Assert.Equal(4, warnings.Count);
    }
}
