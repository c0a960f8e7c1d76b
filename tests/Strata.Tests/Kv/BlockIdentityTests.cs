using Strata.Engine;
using Strata.Kv;
using Strata.Tests.Support;

namespace Strata.Tests.Kv;

public class BlockIdentityTests
{
    [Fact]
    public void ChainedHashIsSha256OfParentAndLittleEndianIdsAndSameInEveryProcess()
    {
        // Values computed independently with Python's hashlib: no per-process seed, no machine dependence.
        var h0 = BlockHash.Chain(default, [1, 2, 3, 4]);
        Assert.Equal("3a60ee17b8d4f5b7d56818719a9b6674", h0.ToString());
        var h1 = BlockHash.Chain(h0, [5, 6, 7, 8]);
        Assert.Equal("e2a36f314815bd416651c87d7307f7cc", h1.ToString());
        // The same tokens after another parent are another block.
        Assert.NotEqual(h1, BlockHash.Chain(BlockHash.Chain(default, [1, 2, 3, 5]), [5, 6, 7, 8]));
        Assert.True(BlockHash.TryParse(h1.ToString(), out var parsed) && parsed == h1);
        Assert.False(BlockHash.TryParse("xyz", out _));
    }

    [Fact]
    public void FingerprintSeparatesWeightsBlockSizeAndIsStableAcrossLoads()
    {
        using var dir = new TempDir();
        var spec = new ModelSpec("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 300);
        string a = TestModels.Write(spec, dir.Path);
        string b = TestModels.Write(spec with { Seed = spec.Seed + 1 }, dir.Path);
        BlockHash Fp(string path, int blockTokens = 16)
        {
            using var m = Model.Load(path, new ModelOptions { Threads = 1, Context = 64, KvBlockTokens = blockTokens });
            return m.KvCache.Fingerprint;
        }
        Assert.Equal(Fp(a), Fp(a));
        Assert.NotEqual(Fp(a), Fp(b));
        Assert.NotEqual(Fp(a), Fp(a, blockTokens: 32));
    }

    [Fact]
    public void FingerprintOfAFileWithoutAChecksumSamplesTheWeights()
    {
        using var dir = new TempDir();
        var spec = new ModelSpec("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 300);
        string a = TestModels.Write(spec, dir.Path);
        using var file = Strata.Gguf.GgufFile.Open(a);
        var config = Strata.Models.ModelConfig.FromGguf(file);
        var layout = new KvLayout(config.Layers, config.KvDim, 16);
        var withSum = ModelFingerprint.Compute(file, config, layout);
        // Strip the checksum key: the fingerprint then comes from sampled tensor bytes, and changes with one of them.
        string copy = Path.Combine(dir.Path, "nosum.gguf");
        File.Copy(a, copy);
        var bytes = File.ReadAllBytes(copy);
        string key = Strata.Gguf.GgufWriter.DataChecksumKey;
        int at = IndexOf(bytes, System.Text.Encoding.ASCII.GetBytes(key));
        Assert.True(at > 0);
        bytes[at] = (byte)'x'; // rename the key: the value is no longer trusted as a checksum
        File.WriteAllBytes(copy, bytes);
        BlockHash Sampled(byte[] content)
        {
            File.WriteAllBytes(copy, content);
            using var f = Strata.Gguf.GgufFile.Open(copy);
            return ModelFingerprint.Compute(f, config, layout);
        }
        var sampled = Sampled(bytes);
        Assert.NotEqual(withSum, sampled);
        var changed = (byte[])bytes.Clone();
        var first = file.Tensors[0];
        changed[first.FileOffset] ^= 0x40; // the first byte of a tensor is always sampled
        Assert.NotEqual(sampled, Sampled(changed));
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        return -1;
    }
}
