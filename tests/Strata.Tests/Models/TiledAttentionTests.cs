using Strata.Engine;
using Strata.Kv;
using Strata.Tests.Support;

namespace Strata.Tests.Models;

/// <summary>Tiled attention (online softmax over chunks of keys) gives the plain two-pass attention's logits.</summary>
public class TiledAttentionTests
{
    [Theory]
    [InlineData(KvType.F16, 256, 4, 2, 37, 0)]    // GQA 2:1, a prompt that ends mid-chunk
    [InlineData(KvType.F16, 256, 8, 8, 130, 1)]   // no GQA, several tiles per chunk
    [InlineData(KvType.Q8_0, 256, 4, 1, 70, 2)]   // multi-query, q8_0 cache
    [InlineData(KvType.F16, 160, 4, 2, 75, 3)]    // head size 40: values folded 32 and then 8 at a time
    [InlineData(KvType.F16, 128, 8, 4, 45, 4)]    // head size 16
    public void MatchesTheTwoPassForm(KvType kvType, int dim, int heads, int kvHeads, int promptTokens, int seed)
    {
        using var dir = new TempDir();
        var spec = new ModelSpec("llama", Dim: dim, Layers: 2, Heads: heads, KvHeads: kvHeads, FeedForward: 384, Vocab: 300, Seed: seed);
        string path = TestModels.Write(spec, dir.Path);
        var prompt = TestModels.RandomTokens(spec.Vocab, promptTokens, seed);
        float[][] Run(bool tiled)
        {
            using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256, KvType = kvType, TiledAttention = tiled, BatchSize = 64 });
            int vocab = model.Config.VocabSize;
            using var seq = model.NewSequence();
            // A prefill in chunks (tiles of many tokens), then decode steps (tiles of one).
            var all = new float[64 * vocab];
            var rows = new List<float[]>();
            for (int i = 0; i < prompt.Length; i += 64)
            {
                int n = Math.Min(64, prompt.Length - i);
                model.Transformer.Forward(prompt.AsSpan(i, n), seq, all, allLogits: true);
                for (int r = 0; r < n; r++) rows.Add(all.AsSpan(r * vocab, vocab).ToArray());
            }
            var one = new float[vocab];
            for (int t = 0; t < 5; t++)
            {
                model.Transformer.Forward([prompt[t]], seq, one);
                rows.Add(one.ToArray());
            }
            return rows.ToArray();
        }
        var reference = Run(tiled: false);
        var tiled = Run(tiled: true);
        Assert.Equal(reference.Length, tiled.Length);
        for (int r = 0; r < reference.Length; r++)
        {
            double scale = Math.Sqrt(reference[r].Select(x => (double)x * x).Average());
            double worst = reference[r].Zip(tiled[r], (a, b) => Math.Abs(a - b)).Max();
            Assert.True(worst <= 1e-4 * (1 + scale), $"row {r}: worst difference {worst} (rms {scale})");
        }
    }
}
