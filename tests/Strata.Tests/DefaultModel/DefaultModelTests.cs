using Strata.Engine;
using Strata.Sampling;
using Strata.Tests.Support;
using Xunit.Abstractions;

namespace Strata.Tests.DefaultModel;

/// <summary>The model Strata ships (models/strata-tiny.gguf): it loads in Strata and llama.cpp, they agree, and it writes text.</summary>
public class DefaultModelTests(ITestOutputHelper output)
{
    internal static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Strata.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    private static string ShippedModel => Path.Combine(RepoRoot(), "models", Strata.Engine.DefaultModel.FileName);

    [Fact]
    public void ShippedBesideTheBinaryAndFoundWithoutConfiguration()
    {
        Assert.True(File.Exists(ShippedModel), ShippedModel);
        Assert.True(new FileInfo(ShippedModel).Length <= 25L << 20, "the shipped model must stay within 25 MB");
        Assert.Equal(Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "models", Strata.Engine.DefaultModel.FileName)),
            Path.GetFullPath(Strata.Engine.DefaultModel.Find()!));
    }

    /// <summary>
    /// Greedy continuations equal llama.cpp's token for token, except that at a step where llama.cpp's own logits
    /// rate Strata's choice within <see cref="NearTie"/> of its own (a near-tie), the two may part; nothing after that
    /// step is compared. The default model is Q8_0: activations are rounded to int8 before every matmul, so two
    /// engines that add the same products in a different order (both exact per block) can round one activation
    /// differently and move logits by a few hundredths, which decides a near-tie either way.
    /// </summary>
    [Theory]
    [InlineData("In the beginning")]
    [InlineData("And the LORD said unto Moses,")]
    [InlineData("Blessed are the")]
    [InlineData("The king of Israel")]
    public void GreedyContinuationMatchesLlamaCpp(string text)
    {
        using var model = Model.Load(ShippedModel, new ModelOptions { Threads = 2, Context = 256 });
        var prompt = model.Tokenize(text);
        using var llama = new LlamaCpp(ShippedModel, context: 256);
        int[] expected = llama.Greedy(prompt, 32);
        using var g = new Generator(model);
        var result = g.Generate(prompt, new GenerationOptions { MaxTokens = 32, Sampling = SamplerOptions.Greedy });
        int same = 0;
        while (same < result.Tokens.Length && result.Tokens[same] == expected[same]) same++;
        output.WriteLine($"{text} → {result.Text} (equal for {same} of {result.Tokens.Length} tokens)");
        if (same < result.Tokens.Length)
        {
            var theirs = llama.Logits([.. prompt, .. expected.Take(same)])[^1];
            float gap = theirs[expected[same]] - theirs[result.Tokens[same]];
            Assert.True(gap < NearTie, $"step {same}: Strata chose {result.Tokens[same]}, llama.cpp {expected[same]}, which llama.cpp rates {gap:F3} higher: not a near-tie");
        }
        else if (result.Tokens.Length < 32) Assert.True(model.Tokenizer.Vocabulary.IsEndOfGeneration(expected[result.Tokens.Length]));
        Assert.False(string.IsNullOrWhiteSpace(result.Text));
    }

    private const float NearTie = 0.1f;

    [Fact]
    public void HeldOutPerplexityIsFarBelowUniform()
    {
        using var model = Model.Load(ShippedModel, new ModelOptions { Threads = 2, Context = 256 });
        string text = File.ReadAllText(Path.Combine(RepoRoot(), "models", "heldout.txt"));
        var r = Strata.Engine.Perplexity.Run(model, text, 128);
        double uniform = model.Config.VocabSize;
        output.WriteLine($"held-out perplexity {r.Perplexity:F2} over {r.Scored} tokens; uniform {uniform}");
        Assert.True(r.Perplexity < uniform / 20, $"perplexity {r.Perplexity:F1} is not far below uniform {uniform}");
    }

    [Fact]
    public void RunWithoutModelPrintsText()
    {
        var r = StrataCli.Run("run", "-p", "In the beginning", "-n", "16", "--temp", "0");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.True(r.Stdout.Trim().Length > 10, r.Stdout);
    }

    [Fact]
    public void ChatAnswersAndExitsOnEndOfInput()
    {
        var r = StrataCli.Run(["run", "-n", "24", "--temp", "0"], stdin: "Who made the heaven and the earth?\nAnd then?\n");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length >= 2, r.Stdout);
        Assert.Contains(lines, l => l.Trim().Length > 3);
    }
}
