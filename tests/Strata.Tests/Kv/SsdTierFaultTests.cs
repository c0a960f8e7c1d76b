using System.Diagnostics;
using Strata.Engine;
using Strata.Kv;
using Strata.Kv.Tiers;
using Strata.Tests.Support;

namespace Strata.Tests.Kv;

/// <summary>The ssd tier's promises: a bad file is a counted miss and never data; a full disk, a kill or a second process cost at most blocks.</summary>
public class SsdTierFaultTests
{
    private static readonly ModelSpec Spec = new("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 300);

    private static int[] Prompt(int n, int seed) => TestModels.RandomTokens(Spec.Vocab, n, seed);

    private static ModelOptions Options(string kvDir, Action<string>? warn = null) =>
        new() { Threads = 2, Context = 256, Kv = new KvCacheOptions { SsdDirectory = kvDir, Warn = warn } };

    private static (float[] Logits, int Reused) Run(Model model, int[] tokens)
    {
        var logits = new float[model.Config.VocabSize];
        using var seq = model.NewSequence();
        var reuse = model.KvCache.AttachPrefix(seq, tokens);
        model.Transformer.Forward(tokens.AsSpan(seq.Length), seq, logits);
        model.KvCache.Commit(seq);
        return (logits, reuse.Tokens);
    }

    private static string BlockFile(string kvDir, BlockHash fingerprint, BlockHash key)
    {
        string hex = key.ToString();
        return Path.Combine(kvDir, "strata-kv", "v1", fingerprint.ToString(), hex[..2], hex + ".kvb");
    }

    [Fact]
    public void CorruptTruncatedAndForeignBlocksAreCountedMissesNeverData()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec, dir.Path);
        string other = TestModels.Write(Spec with { Seed = 5 }, dir.Path);
        string kvDir = Path.Combine(dir.Path, "kv");
        var tokens = Prompt(70, 3); // four full blocks cached, the rest computed
        float[] expected;
        BlockHash fp;
        var keys = new BlockHash[4];
        using (var m = Model.Load(path, Options(kvDir)))
        {
            expected = Run(m, tokens).Logits;
            m.KvCache.Flush(TimeSpan.FromSeconds(30));
            fp = m.KvCache.Fingerprint;
            var parent = fp;
            for (int b = 0; b < 4; b++) keys[b] = parent = BlockHash.Chain(parent, tokens.AsSpan(b * 16, 16));
        }
        string otherKv = Path.Combine(dir.Path, "kv-other");
        BlockHash otherFirst;
        using (var m = Model.Load(other, Options(otherKv)))
        {
            Run(m, tokens);
            m.KvCache.Flush(TimeSpan.FromSeconds(30));
            otherFirst = BlockHash.Chain(m.KvCache.Fingerprint, tokens.AsSpan(0, 16));
            File.Copy(BlockFile(otherKv, m.KvCache.Fingerprint, otherFirst), Path.Combine(dir.Path, "foreign.kvb"));
        }

        // Block 3: one payload bit flipped. The lookup stops before it; the result is still exact.
        var f3 = BlockFile(kvDir, fp, keys[3]);
        var bytes = File.ReadAllBytes(f3);
        bytes[4096 + 100] ^= 1;
        File.WriteAllBytes(f3, bytes);
        var warnings = new List<string>();
        using (var m = Model.Load(path, Options(kvDir, warnings.Add)))
        {
            var (logits, reused) = Run(m, tokens);
            Assert.Equal(48, reused);
            Assert.Equal(expected, logits);
            var ssd = m.KvCache.LowerTiers.Single();
            Assert.Equal(1, ssd.Misses);
            Assert.Equal(1, ((SsdKvTier)ssd.Tier).CorruptBlocks);
            Assert.Contains(warnings, w => w.Contains("payload checksum mismatch"));
        }
        Assert.False(File.Exists(f3) && new FileInfo(f3).Length == bytes.Length && File.ReadAllBytes(f3).SequenceEqual(bytes), "the corrupt file was left in place");

        // Block 1 truncated mid-payload: a miss from block 1 on.
        var f1 = BlockFile(kvDir, fp, keys[1]);
        using (var s = new FileStream(f1, FileMode.Open)) s.SetLength(4096 + 1000);
        using (var m = Model.Load(path, Options(kvDir)))
        {
            var (logits, reused) = Run(m, tokens);
            Assert.Equal(16, reused);
            Assert.Equal(expected, logits);
        }

        // Block 0 replaced by another model's block under this block's name: a miss, never its data.
        File.Copy(Path.Combine(dir.Path, "foreign.kvb"), BlockFile(kvDir, fp, keys[0]), overwrite: true);
        using (var m = Model.Load(path, Options(kvDir, warnings.Add)))
        {
            var (logits, reused) = Run(m, tokens);
            Assert.Equal(0, reused);
            Assert.Equal(expected, logits);
            Assert.Equal(1, ((SsdKvTier)m.KvCache.LowerTiers.Single().Tier).CorruptBlocks);
        }
    }

    [Fact]
    public void AFullDiskStopsSsdWritesWithOneWarningWhileGenerationGoesOn()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec, dir.Path);
        string mount = Path.Combine(dir.Path, "small");
        Directory.CreateDirectory(mount);
        // A 200 KiB filesystem: room for a couple of dozen 8 KiB block files of this model, then ENOSPC.
        var mounted = Exec("mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", mount);
        Assert.True(mounted.Code == 0, $"this test mounts a small tmpfs and needs root: {mounted.Output}");
        try
        {
            var warnings = new List<string>();
            var greedy = new GenerationOptions { MaxTokens = 100, Sampling = Strata.Sampling.SamplerOptions.Greedy };
            using var reference = Model.Load(path, new ModelOptions { Threads = 2, Context = 256 });
            using var model = Model.Load(path, Options(mount, warnings.Add));
            for (int i = 0; i < 6; i++)
            {
                var prompt = Prompt(120, 50 + i);
                var got = new Generator(model).Generate(prompt, greedy);
                model.KvCache.Flush(TimeSpan.FromSeconds(30));
                Assert.Equal(new Generator(reference).Generate(prompt, greedy).Tokens, got.Tokens);
            }
            var ssd = (SsdKvTier)model.KvCache.LowerTiers.Single().Tier;
            Assert.True(ssd.WritesDisabled, string.Join(" / ", warnings));
            Assert.Single(warnings, w => w.Contains("full"));
            Assert.True(model.KvCache.LowerTiers.Single().Writes > 5);
        }
        finally
        {
            Exec("umount", mount);
        }
    }

    [Fact]
    public async Task TwoCachesOnOneDirectoryShareItSafely()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec, dir.Path);
        string kvDir = Path.Combine(dir.Path, "kv");
        var shared = Prompt(64, 1);
        var a = shared.Concat(Prompt(40, 2)).ToArray();
        var b = shared.Concat(Prompt(40, 3)).ToArray();
        float[] expectA, expectB;
        using (var m = Model.Load(path, new ModelOptions { Threads = 2, Context = 256 }))
        {
            expectA = Run(m, a).Logits;
            expectB = Run(m, b).Logits;
        }
        // Two caches (as two processes would) write the same and different blocks into one directory at once.
        using var one = Model.Load(path, Options(kvDir));
        using var two = Model.Load(path, Options(kvDir));
        var t1 = Task.Run(() => { for (int i = 0; i < 5; i++) { one.KvCache.Pool.DropUnreferenced(); Run(one, a); } one.KvCache.Flush(TimeSpan.FromSeconds(30)); });
        var t2 = Task.Run(() => { for (int i = 0; i < 5; i++) { two.KvCache.Pool.DropUnreferenced(); Run(two, b); } two.KvCache.Flush(TimeSpan.FromSeconds(30)); });
        await Task.WhenAll(t1, t2);
        // The second cache finds the first one's blocks too (written after it started).
        two.KvCache.Pool.DropUnreferenced();
        var (la, ra) = Run(two, a);
        Assert.Equal(96, ra);
        Assert.Equal(expectA, la);
        using var third = Model.Load(path, Options(kvDir));
        var (lb, rb) = Run(third, b);
        Assert.Equal(96, rb);
        Assert.Equal(expectB, lb);
        Assert.Equal(0, ((SsdKvTier)third.KvCache.LowerTiers.Single().Tier).CorruptBlocks);
    }

    [Fact]
    public void KillMinus9WhileWritingLeavesADirectoryThatLosesOnlyBlocksInFlight()
    {
        using var dir = new TempDir();
        string kvDir = Path.Combine(dir.Path, "kv");
        Directory.CreateDirectory(kvDir);
        var rng = new Random(17);
        string prompt = "And God said, Let there be light: and there was light. And God saw the light, that it was good.";
        for (int round = 0; round < 4; round++)
        {
            using var p = StrataCli.Start(["run", "-p", prompt + " " + round, "-n", "-1", "--temp", "0", "-c", "256", "--kv-dir", kvDir]);
            Thread.Sleep(900 + rng.Next(1200));
            try { p.Kill(entireProcessTree: true); } // SIGKILL: no flush, no cleanup
            catch (InvalidOperationException) { } // it had finished
            p.WaitForExit(10_000);
        }
        var before = Directory.EnumerateFiles(kvDir, "*.kvb", SearchOption.AllDirectories).Count();
        Assert.True(before > 0, "the killed runs wrote no block (too short a run?)");
        // A new run opens the directory: abandoned temporary files are removed, and every block it reads is whole.
        var ok = StrataCli.Run(["run", "-p", prompt + " 0", "-n", "24", "--temp", "0", "-c", "256", "--kv-dir", kvDir, "--json"]);
        Assert.True(ok.ExitCode == 0, ok.Stderr);
        Assert.DoesNotContain("checksum", ok.Stderr);
        Assert.Contains("\"cached_tokens\":", ok.Stdout);
        Assert.DoesNotContain(".tmp.", string.Join(' ', Directory.EnumerateFiles(kvDir, "*", SearchOption.AllDirectories)));
        var fresh = StrataCli.Run(["run", "-p", prompt + " 0", "-n", "24", "--temp", "0", "-c", "256", "--json"]);
        Assert.Equal(Text(fresh.Stdout), Text(ok.Stdout));
        var stats = StrataCli.Run(["kv", "stats", "--kv-dir", kvDir, "--json"]);
        Assert.Equal(0, stats.ExitCode);
    }

    private static string Text(string json) => System.Text.Json.JsonDocument.Parse(json).RootElement.GetProperty("text").GetString()!;

    private static (int Code, string Output) Exec(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit(30_000);
            return (p.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }
}
