using System.Text.Json;
using Strata.Tests.Support;

namespace Strata.Tests.CommandLine;

/// <summary>The `strata` command as other tools call it: exact output shapes, and one clear line with exit code 2 on bad input.</summary>
public class CliTests : IClassFixture<CliTests.ModelFile>
{
    public sealed class ModelFile : IDisposable
    {
        private readonly TempDir _dir = new();
        public string Path { get; }
        public ModelFile() => Path = TestModels.Write(new ModelSpec("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 300), _dir.Path);
        public void Dispose() => _dir.Dispose();
    }

    private readonly string _model;
    public CliTests(ModelFile f) => _model = f.Path;

    [Fact]
    public void RunJsonHasTheDocumentedShape()
    {
        var r = StrataCli.Run("run", "-m", _model, "--tokens", "1,5,9", "-n", "8", "--temp", "0", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        Assert.Equal(new[] { 1, 5, 9 }, root.GetProperty("prompt_tokens").EnumerateArray().Select(e => e.GetInt32()));
        var tokens = root.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.InRange(tokens.Length, 1, 8);
        Assert.Equal(JsonValueKind.String, root.GetProperty("text").ValueKind);
        Assert.True(root.GetProperty("prefill_ms").GetDouble() >= 0);
        Assert.True(root.GetProperty("decode_tok_s").GetDouble() >= 0);
        // Greedy is deterministic.
        var again = StrataCli.Run("run", "-m", _model, "--tokens", "1,5,9", "-n", "8", "--temp", "0", "--json");
        Assert.Equal(tokens, JsonDocument.Parse(again.Stdout).RootElement.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public void IgnoreEosKeepsAChatAnswerGoingPastItsEnd()
    {
        // The default model ends its chat answers; with --ignore-eos the answer runs on to -n.
        string model = Strata.Tests.Server.ServerFixture.ModelPath;
        string[] chat = ["run", "-m", model, "--temp", "0", "-n", "200"];
        var plain = StrataCli.Run(chat, stdin: "Genesis 1:1\n");
        var forced = StrataCli.Run([.. chat, "--ignore-eos"], stdin: "Genesis 1:1\n");
        Assert.True(plain.ExitCode == 0 && forced.ExitCode == 0, plain.Stderr + forced.Stderr);
        Assert.True(forced.Stdout.Length > 3 * plain.Stdout.Length, $"{plain.Stdout.Length} characters without, {forced.Stdout.Length} with --ignore-eos");
        Assert.StartsWith(plain.Stdout.Trim(), forced.Stdout.Trim());
    }

    [Fact]
    public void RepeatedStopOptionsAllApply()
    {
        string[] run = ["run", "-m", _model, "--tokens", "1,5,9", "-n", "16", "--temp", "0", "--json"];
        var full = JsonDocument.Parse(StrataCli.Run(run).Stdout).RootElement.GetProperty("text").GetString()!;
        Assert.True(full.Length >= 6, full);
        string stop = full.Substring(3, 3);
        int expectedCut = full.IndexOf(stop, StringComparison.Ordinal);
        // The stop that matches is the second of two, written in the --name=value form.
        var r = StrataCli.Run([.. run, "--stop", "\u0001never", $"--stop={stop}"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal(full[..expectedCut], root.GetProperty("text").GetString());
        Assert.Equal("StopString", root.GetProperty("stop_reason").GetString());
    }

    [Fact]
    public void SeedMakesSamplingReproducible()
    {
        string[] args = ["run", "-m", _model, "-p", "abc", "-n", "12", "--temp", "1.0", "--seed", "7", "--json"];
        var a = StrataCli.Run(args);
        var b = StrataCli.Run(args);
        Assert.True(a.ExitCode == 0, a.Stderr);
        Assert.Equal(JsonDocument.Parse(a.Stdout).RootElement.GetProperty("tokens").ToString(), JsonDocument.Parse(b.Stdout).RootElement.GetProperty("tokens").ToString());
    }

    [Fact]
    public void RunStreamsText()
    {
        var r = StrataCli.Run("run", "-m", _model, "-p", "hello", "-n", "6", "--temp", "0");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.False(string.IsNullOrWhiteSpace(r.Stdout));
    }

    [Fact]
    public void ChatAnswersEachLineAndExitsAtEndOfInput()
    {
        var r = StrataCli.Run(["run", "-m", _model, "-n", "5", "--temp", "0"], stdin: "hello there\nand again\n", timeoutMs: 60_000);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.False(string.IsNullOrWhiteSpace(r.Stdout));
        // One answer per user line, each ended by a newline.
        Assert.True(r.Stdout.Count(c => c == '\n') >= 2, r.Stdout);
    }

    [Fact]
    public void LogitsPrintsOneRowPerPosition()
    {
        var r = StrataCli.Run("logits", "-m", _model, "--tokens", "1,2,3,4", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var rows = doc.RootElement.GetProperty("logits").EnumerateArray().ToArray();
        Assert.Equal(4, rows.Length);
        Assert.All(rows, row => Assert.Equal(300, row.GetArrayLength()));
    }

    [Fact]
    public void TokenizeIncludesBos()
    {
        var r = StrataCli.Run("tokenize", "-m", _model, "--json", "hi there");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var ids = JsonSerializer.Deserialize<int[]>(r.Stdout)!;
        Assert.Equal(1, ids[0]);
        Assert.True(ids.Length > 1);
    }

    [Fact]
    public void InspectShowsArchitectureAndTensors()
    {
        var r = StrataCli.Run("inspect", _model);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("llama: 2 layers, dim 64", r.Stdout);
        Assert.Contains("blk.1.ffn_down.weight", r.Stdout);
        Assert.Contains("total:", r.Stdout);
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("empty")]
    [InlineData("garbage")]
    [InlineData("directory")]
    [InlineData("truncated")]
    public void BadModelGivesOneLineAndExitCode2(string kind)
    {
        using var dir = new TempDir();
        string path = System.IO.Path.Combine(dir.Path, "m.gguf");
        switch (kind)
        {
            case "empty": File.WriteAllBytes(path, []); break;
            case "garbage": File.WriteAllText(path, "this is not a model at all, just some text that goes on"); break;
            case "directory": path = dir.Path; break;
            case "truncated": File.WriteAllBytes(path, File.ReadAllBytes(_model)[..5000]); break;
        }
        foreach (var args in new[] { new[] { "run", "-m", path, "-p", "x" }, ["logits", "-m", path, "--tokens", "1"], ["tokenize", "-m", path, "x"], ["inspect", path] })
        {
            var r = StrataCli.Run(args);
            Assert.Equal(2, r.ExitCode);
            Assert.Equal("", r.Stdout.Trim());
            var lines = r.Stderr.Trim().Split('\n');
            Assert.Single(lines);
            Assert.StartsWith("strata: ", lines[0]);
            Assert.DoesNotContain("   at ", r.Stderr);
        }
    }

    [Theory]
    [InlineData("run", "-m", "MODEL", "-p", "x", "--top-p", "2")]
    [InlineData("run", "-m", "MODEL", "-p", "x", "--temp", "hot")]
    [InlineData("run", "-m", "MODEL", "--tokens", "1,x")]
    [InlineData("run", "-m", "MODEL", "--tokens", "1,999999")]
    [InlineData("run", "-m", "MODEL", "-p", "x", "--bogus", "1")]
    [InlineData("logits", "-m", "MODEL")]
    [InlineData("frobnicate")]
    public void BadArgumentsGiveOneLineAndExitCode2(params string[] args)
    {
        var r = StrataCli.Run(args.Select(a => a == "MODEL" ? _model : a));
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.DoesNotContain("   at ", r.Stderr);
    }
}
