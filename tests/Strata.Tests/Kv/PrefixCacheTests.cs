using Strata.Engine;
using Strata.Kv;
using Strata.Tests.Support;

namespace Strata.Tests.Kv;

/// <summary>A continuation computed from cached blocks — from each tier, and after a restart — equals computing it from scratch.</summary>
public class PrefixCacheTests
{
    private static readonly ModelSpec Spec = new("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 300);

    /// <summary>The model a KV type is tested on: q8_0 needs head size 32 (Dim 128 over 4 heads), f16 keeps 16.</summary>
    private static ModelSpec SpecFor(KvType type) => type == KvType.Q8_0 ? Spec with { Dim = 128 } : Spec;

    private static int[] Prompt(int n, int seed) => TestModels.RandomTokens(Spec.Vocab, n, seed);

    /// <summary>Logits of the last token after running <paramref name="tokens"/> from the cache's longest prefix.</summary>
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

    private static float[] Scratch(string path, int[] tokens, KvType type = KvType.F16)
    {
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256, KvType = type });
        return LastLogits(model, tokens).Logits;
    }

    [Theory]
    [InlineData(17, KvType.F16)]   // one full block cached, one token computed
    [InlineData(40, KvType.F16)]   // two blocks cached, eight computed
    [InlineData(64, KvType.F16)]   // all four cached: the last token is computed again in a private copy of its block
    [InlineData(40, KvType.Q8_0)]
    [InlineData(64, KvType.Q8_0)]
    public void DramHitIsBitIdenticalToScratch(int length, KvType type)
    {
        using var dir = new TempDir();
        string path = TestModels.Write(SpecFor(type), dir.Path);
        var tokens = Prompt(length, length);
        var expected = Scratch(path, tokens, type);
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256, KvType = type });
        var (first, none) = LastLogits(model, tokens);
        Assert.Equal(0, none.Tokens);
        Assert.Equal(expected, first);
        var (again, reuse) = LastLogits(model, tokens);
        // Whole blocks are reused; a prompt that ends on a block boundary recomputes only its last token.
        Assert.Equal(length % 16 == 0 ? length - 1 : length / 16 * 16, reuse.Tokens);
        Assert.Equal(length / 16, reuse.BlocksByTier["dram"]);
        Assert.Equal(expected, again);
    }

    [Fact]
    public void SequencesSharingAPrefixShareItsDramBlocks()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec, dir.Path);
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256, MaxSequences = 2 });
        var system = Prompt(32, 1);
        var a = system.Concat(Prompt(10, 2)).ToArray();
        var b = system.Concat(Prompt(12, 3)).ToArray();
        var cache = model.KvCache;
        var logits = new float[model.Config.VocabSize];
        using var sa = model.NewSequence();
        cache.AttachPrefix(sa, a);
        model.Transformer.Forward(a, sa, logits);
        cache.Commit(sa);
        using var sb = model.NewSequence();
        var reuse = cache.AttachPrefix(sb, b);
        Assert.Equal(32, reuse.Tokens);
        Assert.Equal(sa.BlockTable[..2].ToArray(), sb.BlockTable[..2].ToArray());
        Assert.Equal(2, model.KvPool.RefCount(sb.BlockTable[0]));
    }

    [Fact]
    public void FarTierHitIsBitIdenticalToScratch()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec, dir.Path);
        var tokens = Prompt(100, 7);
        var expected = Scratch(path, tokens);
        // DRAM holds one context (16 blocks of 16 positions) and nothing more, so other prompts push these blocks to far.
        var kv = new KvCacheOptions { DramBytes = 16 * BlockBytes(path), FarBytes = 4 << 20 };
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256, Kv = kv });
        LastLogits(model, tokens);
        for (int i = 0; i < 3; i++) LastLogits(model, Prompt(200, 100 + i));
        var firstBlock = BlockHash.Chain(model.KvCache.Fingerprint, tokens.AsSpan(0, 16));
        Assert.False(model.KvPool.Contains(firstBlock));
        Assert.True(model.KvCache.LowerTiers[0].Contains(firstBlock));
        var (logits, reuse) = LastLogits(model, tokens);
        Assert.Equal(96, reuse.Tokens);
        Assert.True(reuse.BlocksByTier["far"] > 0, $"far hits: {reuse.BlocksByTier["far"]}");
        Assert.Equal(expected, logits);
    }

    [Theory]
    [InlineData(KvType.F16)]
    [InlineData(KvType.Q8_0)]
    public void SsdTierSurvivesARestartAndIsBitIdentical(KvType type)
    {
        using var dir = new TempDir();
        string path = TestModels.Write(SpecFor(type), dir.Path);
        string kvDir = Path.Combine(dir.Path, "kv");
        var tokens = Prompt(150, 9);
        var expected = Scratch(path, tokens, type);
        var options = new ModelOptions { Threads = 2, Context = 256, KvType = type, Kv = new KvCacheOptions { SsdDirectory = kvDir } };
        using (var first = Model.Load(path, options))
        {
            Assert.Equal(0, LastLogits(first, tokens).Reuse.Tokens);
            Assert.True(first.KvCache.Flush(TimeSpan.FromSeconds(30)));
        }
        using var second = Model.Load(path, options);
        var (logits, reuse) = LastLogits(second, tokens);
        Assert.Equal(144, reuse.Tokens);
        Assert.Equal(9, reuse.BlocksByTier["ssd"]);
        Assert.Equal(9, second.KvCache.PrefixHitsByTier["ssd"]);
        Assert.Equal(expected, logits);
    }

    [Fact]
    public void KvOfAnotherModelOrBlockSizeIsNeverUsed()
    {
        using var dir = new TempDir();
        string a = TestModels.Write(Spec, dir.Path);
        string b = TestModels.Write(Spec with { Seed = 2 }, dir.Path);
        string kvDir = Path.Combine(dir.Path, "kv");
        var tokens = Prompt(80, 4);
        var kv = new KvCacheOptions { SsdDirectory = kvDir };
        using (var m = Model.Load(a, new ModelOptions { Threads = 2, Context = 256, Kv = kv }))
        {
            LastLogits(m, tokens);
            m.KvCache.Flush(TimeSpan.FromSeconds(30));
        }
        using (var other = Model.Load(b, new ModelOptions { Threads = 2, Context = 256, Kv = kv }))
            Assert.Equal(0, LastLogits(other, tokens).Reuse.Tokens);
        using (var otherBlocks = Model.Load(a, new ModelOptions { Threads = 2, Context = 256, Kv = kv, KvBlockTokens = 32 }))
            Assert.Equal(0, LastLogits(otherBlocks, tokens).Reuse.Tokens);
        using (var same = Model.Load(a, new ModelOptions { Threads = 2, Context = 256, Kv = kv }))
            Assert.Equal(79, LastLogits(same, tokens).Reuse.Tokens); // all five blocks; the last token computed again
    }

    [Fact]
    public void AChatRestartedWithTheSameKvDirDoesNotRecomputeItsHistory()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec, dir.Path);
        var options = new ModelOptions { Threads = 2, Context = 256, Kv = new KvCacheOptions { SsdDirectory = Path.Combine(dir.Path, "kv") } };
        var greedy = new GenerationOptions { MaxTokens = 20, Sampling = Strata.Sampling.SamplerOptions.Greedy };
        var history = Prompt(60, 5);
        GenerationResult before;
        using (var model = Model.Load(path, options))
        {
            using var g = new Generator(model);
            before = g.Generate(history, greedy);
            model.KvCache.Flush(TimeSpan.FromSeconds(30));
        }
        using var restarted = Model.Load(path, options);
        using var again = new Generator(restarted);
        var after = again.Generate(history.Concat(before.Tokens).ToArray(), greedy);
        Assert.Equal((history.Length + before.Tokens.Length - 1) / 16 * 16, after.CachedTokens);
        Assert.True(after.TimeToFirstTokenMs > 0);
    }

    private static int BlockBytes(string path)
    {
        using var f = Strata.Gguf.GgufFile.Open(path);
        var c = Strata.Models.ModelConfig.FromGguf(f);
        return new KvLayout(c.Layers, c.KvDim, 16).BlockBytes;
    }

    [Fact]
    public void AFullyCachedPromptInAFullPoolRecomputesItsLastBlockInsteadOfFailing()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec, dir.Path);
        var tokens = Prompt(64, 64);
        var expected = Scratch(path, tokens);
        // A pool of exactly four blocks: one 64-token sequence fills it.
        int blockBytes = new KvLayout(Spec.Layers, Spec.KvHeads * (Spec.Dim / Spec.Heads), 16).BlockBytes;
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 64, Kv = new KvCacheOptions { DramBytes = 4L * blockBytes } });
        Assert.Equal(4, model.KvPool.Capacity);
        var logits = new float[model.Config.VocabSize];
        var a = model.NewSequence();
        model.KvCache.AttachPrefix(a, tokens);
        model.Transformer.Forward(tokens, a, logits);
        model.KvCache.Commit(a);
        Assert.Equal(0, model.KvPool.FreeBlocks);

        // Every block of the prompt is cached and in use: no block is free for a private copy of the last one.
        using var b = model.NewSequence();
        var reuse = model.KvCache.AttachPrefix(b, tokens);
        Assert.Equal(48, reuse.Tokens);
        a.Dispose();
        model.Transformer.Forward(tokens.AsSpan(48), b, logits);
        Assert.Equal(expected, logits);
    }
}
