using System.Text.Json;
using Strata.Tests.Support;

namespace Strata.Tests.CommandLine;

/// <summary>
/// What System.CommandLine gives `strata`: help per command, --version, typo suggestions, values checked by the
/// parser; and that redirected output stays plain (no ANSI codes) and UTF-8.
/// </summary>
public class CliParsingTests(CliTests.ModelFile model) : IClassFixture<CliTests.ModelFile>
{
    private static string OneLine(StrataCli.Result r)
    {
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("", r.Stdout.Trim());
        var lines = r.Stderr.Trim().Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("strata: ", lines[0]);
        Assert.DoesNotContain("   at ", r.Stderr);
        return lines[0];
    }

    [Theory]
    [InlineData("run", new[] { "-m, --model", "-p, --prompt", "-n, --n-predict", "--temp", "--top-p", "--stop", "-s, --seed", "-c, --ctx-size", "-t, --threads", "--json" }, new[] { "--file", "--output", "--no-bos" })]
    [InlineData("perplexity", new[] { "-f, --file", "--ctx", "-m, --model", "--json" }, new[] { "--temp", "--stop" })]
    [InlineData("tokenize", new[] { "<TEXT>", "--no-bos", "--no-parse-special", "--show-pieces" }, new[] { "--temp", "--file" })]
    [InlineData("convert", new[] { "<HF_DIR>", "-o, --output", "f32|f16|bf16|q8_0" }, new[] { "--model", "--temp" })]
    [InlineData("quantize", new[] { "<IN.gguf> <OUT.gguf> <TYPE>", "Q4_K_M", "-t, --threads" }, new[] { "--model", "--json" })]
    [InlineData("inspect", new[] { "<MODEL>", "--json" }, new[] { "--threads", "--temp" })]
    [InlineData("logits", new[] { "--tokens", "-m, --model" }, new[] { "--temp", "--file" })]
    public void HelpIsPerCommand(string command, string[] mentions, string[] absent)
    {
        var r = StrataCli.Run(command, "--help");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains($"strata {command}", r.Stdout);
        foreach (var m in mentions) Assert.Contains(m, r.Stdout);
        foreach (var a in absent) Assert.DoesNotContain(a, r.Stdout);
    }

    [Fact]
    public void RootHelpListsEveryCommand()
    {
        var r = StrataCli.Run("--help");
        Assert.Equal(0, r.ExitCode);
        foreach (var c in new[] { "run", "logits", "tokenize", "inspect", "convert", "quantize", "perplexity" }) Assert.Contains($"  {c}", r.Stdout);
    }

    [Fact]
    public void VersionPrintsOneLine()
    {
        var r = StrataCli.Run("--version");
        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"^strata \d+\.\d+\.\d+\r?\n$", r.Stdout);
    }

    [Fact]
    public void MisspeltOptionGetsASuggestion()
    {
        var line = OneLine(StrataCli.Run("run", "-m", model.Path, "-p", "x", "--tmep", "0"));
        Assert.Contains("unknown option '--tmep'", line);
        Assert.Contains("did you mean --temp?", line);
    }

    [Fact]
    public void MisspeltCommandGetsASuggestion()
    {
        var line = OneLine(StrataCli.Run("quantise", "a.gguf", "b.gguf", "Q8_0"));
        Assert.Contains("unknown command 'quantise'", line);
        Assert.Contains("did you mean quantize?", line);
    }

    [Theory]
    [InlineData("--threads 5000", "--threads must be between 0 and 1024, got 5000")]
    [InlineData("-n -2", "--n-predict must be between -1 and")]
    [InlineData("--min-p 1.5", "--min-p must be in [0, 1], got 1.5")]
    [InlineData("--top-k many", "--top-k expects an integer, got 'many'")]
    [InlineData("--ctx-size=-3", "--ctx-size must be between 0 and")]
    public void OutOfRangeValueGivesOneLine(string option, string message)
    {
        var line = OneLine(StrataCli.Run(["run", "-m", model.Path, "-p", "x", .. option.Split(' ')]));
        Assert.Contains(message, line);
        Assert.Contains("see 'strata run --help'", line);
    }

    [Fact]
    public void MissingModelFileGivesOneLine()
    {
        string missing = Path.Combine(Path.GetTempPath(), "strata-no-such-model.gguf");
        Assert.Contains($"{missing}: no such file", OneLine(StrataCli.Run("run", "-m", missing, "-p", "x")));
        Assert.Contains($"{missing}: no such file", OneLine(StrataCli.Run("inspect", missing)));
    }

    [Fact]
    public void MissingArgumentShowsTheUsage()
    {
        var line = OneLine(StrataCli.Run("quantize", model.Path));
        Assert.Contains("missing OUT.gguf; usage: strata quantize IN.gguf OUT.gguf TYPE [options]", line);
    }

    [Fact]
    public void NegativeNumbersAndEqualsFormAreValues()
    {
        var r = StrataCli.Run("run", "-m", model.Path, "--tokens", "1,2", "-n", "-1", "--seed", "-1", "--temp=0", "--ctx-size=12", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var tokens = JsonDocument.Parse(r.Stdout).RootElement.GetProperty("tokens").GetArrayLength();
        Assert.InRange(tokens, 1, 16); // -1 runs until the small context is full (or end of generation)
    }

    [Fact]
    public void TextStartingWithAtIsNotAResponseFile()
    {
        var r = StrataCli.Run("tokenize", "-m", model.Path, "--json", "-p", "@alice hi");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.True(JsonSerializer.Deserialize<int[]>(r.Stdout)!.Length > 1);
    }

    [Fact]
    public void RedirectedOutputIsPlainUtf8()
    {
        var inspect = StrataCli.Run("inspect", model.Path);
        Assert.True(inspect.ExitCode == 0, inspect.Stderr);
        Assert.Contains("…", inspect.Stdout); // the token list is cut with U+2026: UTF-8 survives
        Assert.Contains("tensors (", inspect.Stdout);
        foreach (var r in new[] { inspect, StrataCli.Run("run", "--help"), StrataCli.Run("run", "-m", model.Path, "-p", "hi", "-n", "4", "--temp", "0") })
        {
            Assert.DoesNotContain('\u001b', r.Stdout);
            Assert.DoesNotContain('\u001b', r.Stderr);
        }
    }

    [Fact]
    public void InspectJsonHasTheSameInformation()
    {
        var r = StrataCli.Run("inspect", model.Path, "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal("llama", root.GetProperty("metadata").GetProperty("general.architecture").GetString());
        Assert.StartsWith("llama: 2 layers, dim 64", root.GetProperty("architecture")[0].GetString());
        var tensors = root.GetProperty("tensors").EnumerateArray().ToArray();
        Assert.Contains(tensors, t => t.GetProperty("name").GetString() == "blk.1.ffn_down.weight");
        Assert.Equal(tensors.Length, root.GetProperty("total").GetProperty("tensors").GetInt32());
        Assert.Equal(tensors.Sum(t => t.GetProperty("bytes").GetInt64()), root.GetProperty("total").GetProperty("bytes").GetInt64());
    }
}
