using System.Text.Json;
using Strata.Tests.Support;

namespace Strata.Tests.CommandLine;

/// <summary>The kv and bench commands through the real binary, as a user runs them.</summary>
public class KvAndBenchCliTests : IClassFixture<CliTests.ModelFile>
{
    private readonly string _model;
    public KvAndBenchCliTests(CliTests.ModelFile f) => _model = f.Path;

    [Fact]
    public void RunWithAKvDirReusesThePromptInTheNextProcessAndKvCommandsSeeIt()
    {
        using var dir = new TempDir();
        string kv = Path.Combine(dir.Path, "kv");
        string tokens = string.Join(',', Enumerable.Range(0, 40).Select(i => 3 + i * 7 % 290));
        var first = StrataCli.Run("run", "-m", _model, "--tokens", tokens, "-n", "4", "--temp", "0", "--kv-dir", kv, "--json");
        Assert.True(first.ExitCode == 0, first.Stderr);
        var a = JsonDocument.Parse(first.Stdout).RootElement;
        Assert.Equal(0, a.GetProperty("cached_tokens").GetInt32());
        var second = StrataCli.Run("run", "-m", _model, "--tokens", tokens, "-n", "4", "--temp", "0", "--kv-dir", kv, "--json");
        var b = JsonDocument.Parse(second.Stdout).RootElement;
        Assert.Equal(32, b.GetProperty("cached_tokens").GetInt32());
        Assert.Equal(2, b.GetProperty("cache_hits_by_tier").GetProperty("ssd").GetInt32());
        Assert.True(b.GetProperty("ttft_ms").GetDouble() > 0);
        Assert.Equal(a.GetProperty("tokens").ToString(), b.GetProperty("tokens").ToString());

        var stats = JsonDocument.Parse(StrataCli.Run("kv", "stats", "--kv-dir", kv, "--json").Stdout).RootElement;
        var model = stats.GetProperty("models").EnumerateArray().Single();
        Assert.True(model.GetProperty("blocks").GetInt64() >= 2);
        Assert.Equal("f16", model.GetProperty("kv_type").GetString());
        Assert.Contains("far", stats.GetProperty("tiers").EnumerateObject().Select(p => p.Name));
        string fingerprint = model.GetProperty("fingerprint").GetString()!;

        var wrong = StrataCli.Run("kv", "clear", "--kv-dir", kv, "--model", "ffff0000");
        Assert.Equal(2, wrong.ExitCode);
        Assert.Contains("no model with that fingerprint", wrong.Stderr);
        var clear = StrataCli.Run("kv", "clear", "--kv-dir", kv, "--model", fingerprint[..8]);
        Assert.Equal(0, clear.ExitCode);
        Assert.Empty(JsonDocument.Parse(StrataCli.Run("kv", "stats", "--kv-dir", kv, "--json").Stdout).RootElement.GetProperty("models").EnumerateArray());
    }

    [Fact]
    public void BadTierSpecsAreOneLineUsageErrors()
    {
        foreach (var (spec, message) in new[]
                 {
                     ("dram=lots", "not a size"), ("tape=1GiB", "unknown tier 'tape'"), ("ssd=1GiB", "needs a directory"),
                     ("remote=http://127.0.0.1:6379", "is not a store address"), ("remote=redis://127.0.0.1:6379?ttl=soon", "ttl=soon: not a duration"),
                     ("remote=redis://127.0.0.1?prefix={all}", "without braces"), ("remote=redis://127.0.0.1?colour=red", "unknown option 'colour'"),
                 })
        {
            var r = StrataCli.Run("run", "-m", _model, "--tokens", "1,2", "-n", "1", "--kv-tiers", spec);
            Assert.Equal(2, r.ExitCode);
            Assert.Contains(message, r.Stderr);
            Assert.Single(r.Stderr.Trim().Split('\n'));
        }
    }

    [Fact]
    public void ReplayAndTraceCommandsPrintTheDocumentedJson()
    {
        using var dir = new TempDir();
        string trace = Path.Combine(dir.Path, "t.jsonl");
        var gen = StrataCli.Run("kv", "trace", "--kind", "shared-system", "--requests", "300", "-o", trace);
        Assert.True(gen.ExitCode == 0, gen.Stderr);
        var r = StrataCli.Run("kv", "replay", "--trace", trace, "--tiers", "dram=100,far=100,ssd=400", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var j = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal(300, j.GetProperty("requests").GetInt32());
        double hit = j.GetProperty("hit_rate").GetDouble();
        Assert.InRange(hit, 0.01, j.GetProperty("belady_hit_rate").GetDouble() + 1e-9);
        Assert.Equal("s3fifo", j.GetProperty("policy").GetString());
        Assert.True(j.GetProperty("blocks").GetInt64() > 300);
        Assert.Equal(new[] { "dram", "far", "ssd" }, j.GetProperty("hits_by_tier").EnumerateObject().Select(p => p.Name));
        var bad = StrataCli.Run("kv", "replay", "--trace", trace, "--tiers", "dram=10", "--policy", "mru");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--policy", bad.Stderr);
    }

    [Fact]
    public void BenchPrintsTheDocumentedJson()
    {
        var r = StrataCli.Run("bench", "-m", _model, "--prompt-tokens", "32", "--gen-tokens", "8", "--repeat", "2", "--batch", "3", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var j = JsonDocument.Parse(r.Stdout).RootElement;
        foreach (var field in new[] { "prefill_tok_s", "decode_tok_s", "mem_bw_gbs", "bw_fraction", "batch_decode_tok_s" })
            Assert.True(j.GetProperty(field).GetDouble() > 0, field);
        Assert.True(j.GetProperty("bytes_per_token").GetInt64() > 10_000);
        Assert.Equal(3, j.GetProperty("batch").GetInt32());
        double bw = j.GetProperty("mem_bw_gbs").GetDouble();
        Assert.InRange(bw, j.GetProperty("mem_bw_gbs_min").GetDouble(), j.GetProperty("mem_bw_gbs_max").GetDouble());
        // The bandwidth probe (512 MiB or more) runs between decode segments; a small model's peak must not include it.
        Assert.InRange(j.GetProperty("peak_rss_mb").GetDouble(), 1, 400);
    }
}
