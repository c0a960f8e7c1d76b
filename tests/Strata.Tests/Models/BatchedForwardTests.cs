using Strata.Engine;
using Strata.Models;
using Strata.Tensors;
using Strata.Tests.Support;

namespace Strata.Tests.Models;

/// <summary>A sequence computed in a batch with other sequences gets exactly the logits it gets alone (bit for bit).</summary>
public class BatchedForwardTests
{
    [Theory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_K)]
    public void BatchOfSequencesMatchesEachAlone(GgmlType type)
    {
        using var dir = new TempDir();
        var spec = new ModelSpec("llama", Dim: 256, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 512, Vocab: 300, Type: type);
        string path = TestModels.Write(spec, dir.Path);
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256, MaxSequences = 3 });
        var rng = new Random(5);
        int[] Tokens(int n) => Enumerable.Range(0, n).Select(_ => rng.Next(3, spec.Vocab)).ToArray();
        var a = Tokens(30); var b = Tokens(7); var c = Tokens(19);
        int vocab = model.Config.VocabSize;

        // Alone: each sequence's prefix, then its next chunk, one sequence per call.
        float[] Alone(int[] prefix, int[] next)
        {
            var logits = new float[vocab];
            using var seq = model.NewSequence();
            model.Transformer.Forward(prefix, seq, logits);
            model.Transformer.Forward(next, seq, logits);
            return logits;
        }
        var da = Tokens(1); var db = Tokens(1); var dc = Tokens(12);
        var expected = new[] { Alone(a, da), Alone(b, db), Alone(c, dc) };

        // Together: the same prefixes, then one batch with two decode tokens and a prefill chunk.
        using var sa = model.NewSequence(); using var sb = model.NewSequence(); using var sc = model.NewSequence();
        var scratch = new float[vocab];
        model.Transformer.Forward(a, sa, scratch);
        model.Transformer.Forward(b, sb, scratch);
        model.Transformer.Forward(c, sc, scratch);
        var batchLogits = new float[3 * vocab];
        model.Transformer.Forward([.. da, .. db, .. dc], [new BatchEntry(sa, 1), new BatchEntry(sb, 1), new BatchEntry(sc, 12)], batchLogits);
        for (int s = 0; s < 3; s++)
        {
            var got = batchLogits.AsSpan(s * vocab, vocab).ToArray();
            Assert.Equal(ArgMax(expected[s]), ArgMax(got));
            double std = Math.Sqrt(expected[s].Select(x => (double)x * x).Average());
            double worst = expected[s].Zip(got, (x, y) => Math.Abs(x - y)).Max();
            Assert.True(worst == 0, $"{type} sequence {s}: worst difference {worst} (std {std}); batching must not change a bit");
        }
        Assert.Equal(31, sa.Length);
        Assert.Equal(31, sc.Length);
    }

    private static int ArgMax(float[] v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
