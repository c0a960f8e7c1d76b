using System.Text.Json;
using Strata.Engine;
using Strata.Tests.Reference;
using Strata.Tests.Support;
using Xunit.Abstractions;

namespace Strata.Tests.Perplexity;

/// <summary>
/// Perplexity as llama.cpp's tool defines it: Strata's numbers against the same windows scored on llama.cpp's logits
/// and on the float64 reference's, and the CLI's output shapes.
/// </summary>
public class PerplexityTests(ITestOutputHelper log)
{
    private static string Text(int words, int seed)
    {
        var rng = new Random(seed);
        const string letters = "abcdefghijklmnopqrstuvwxyz";
        return string.Join(' ', Enumerable.Range(0, words).Select(_ => new string(Enumerable.Range(0, 1 + rng.Next(6)).Select(_ => letters[rng.Next(26)]).ToArray())));
    }

    [Fact]
    public void MatchesLlamaCppAndFloat64OnTheSameWindows()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(new ModelSpec("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 128, Vocab: 400), dir.Path);
        const int ctx = 64;
        string text = Text(120, 5);
        Strata.Engine.PerplexityResult ours;
        int[] tokens;
        int bos;
        using (var model = Model.Load(path, new ModelOptions { Threads = 2, Context = ctx }))
        {
            tokens = model.Tokenize(text, addSpecial: true, parseSpecial: false);
            bos = model.Tokenizer.Vocabulary.AddBos ? model.Tokenizer.Vocabulary.Bos : -1;
            ours = Strata.Engine.Perplexity.Run(model, text, ctx);
        }
        Assert.True(ours.Chunks >= 2, $"only {ours.Chunks} chunks from {tokens.Length} tokens");
        Assert.Equal((long)ours.Chunks * (ctx - 1 - ctx / 2), ours.Scored);

        Strata.Engine.PerplexityResult theirs;
        using (var llama = new LlamaCpp(path, context: ctx))
            theirs = Strata.Engine.Perplexity.Compute(tokens, ctx, bos, (window, first, sink) =>
            {
                var logits = llama.Logits(window);
                for (int p = first; p < window.Length; p++) sink(p, logits[p]);
            });
        var reference = new ReferenceModel(path);
        var exact = Strata.Engine.Perplexity.Compute(tokens, ctx, bos, (window, first, sink) =>
        {
            var logits = reference.Logits(window);
            for (int p = first; p < window.Length; p++) sink(p, logits[p].Select(x => (float)x).ToArray());
        });
        log.WriteLine($"{tokens.Length} tokens, {ours.Chunks} chunks of {ctx}: strata PPL {ours.Perplexity:F4} ± {ours.StandardError:F4}, llama.cpp {theirs.Perplexity:F4}, float64 {exact.Perplexity:F4}");
        Assert.True(Math.Abs(ours.Perplexity / theirs.Perplexity - 1) < 1e-3, $"strata {ours.Perplexity} vs llama.cpp {theirs.Perplexity}");
        Assert.True(Math.Abs(ours.Perplexity / exact.Perplexity - 1) < 1e-3, $"strata {ours.Perplexity} vs float64 {exact.Perplexity}");
        for (int c = 0; c < ours.Chunks; c++)
            Assert.True(Math.Abs(ours.RunningPerplexity[c] / theirs.RunningPerplexity[c] - 1) < 1e-3);
    }

    [Fact]
    public void LogSoftmaxIsExact()
    {
        float[] logits = [1f, 2f, 3f];
        double expected = 1 - Math.Log(Math.Exp(1) + Math.Exp(2) + Math.Exp(3));
        Assert.Equal(expected, Strata.Engine.Perplexity.LogSoftmax(logits, 0), 6);
    }

    [Fact]
    public void TooShortTextIsAClearError()
    {
        var e = Assert.Throws<StrataException>(() => Strata.Engine.Perplexity.Compute(new int[100], 64, 1, (_, _, _) => { }));
        Assert.Contains("needs at least 128", e.Message);
    }

    [Fact]
    public void CliPrintsChunksAndJson()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(new ModelSpec("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 128, Vocab: 400), dir.Path);
        string textPath = Path.Combine(dir.Path, "t.txt");
        File.WriteAllText(textPath, Text(120, 5));
        var r = StrataCli.Run("perplexity", "-m", path, "--file", textPath, "--ctx", "64", "--threads", "2");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Matches(@"^\[1\]\d+\.\d{4},\[2\]\d+\.\d{4},", r.Stdout);
        Assert.Matches(@"Final estimate: PPL = \d+\.\d{4} \+/- \d+\.\d{5}", r.Stdout);
        var j = StrataCli.Run("perplexity", "-m", path, "-f", textPath, "--ctx", "64", "--json");
        Assert.True(j.ExitCode == 0, j.Stderr);
        using var doc = JsonDocument.Parse(j.Stdout);
        Assert.Equal(64, doc.RootElement.GetProperty("ctx").GetInt32());
        Assert.True(doc.RootElement.GetProperty("ppl").GetDouble() > 1);
        var bad = StrataCli.Run("perplexity", "-m", path, "--file", textPath, "--ctx", "4096");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("needs at least", bad.Stderr);
    }
}
