using System.Diagnostics;
using System.Globalization;
using Strata.Bench.SideBySide;
using Strata.Kv;
using Strata.Kv.Redis;
using Strata.Kv.Tiers;

namespace Strata.Bench.Routing;

/// <summary>
/// The remote tier's throughput against a running store: a prompt's worth of blocks written, then read back as the
/// cache reads them (one pipelined batch per prefix lookup), for a block shape: the default model's (6 layers, KV dim
/// 64: 24 KiB in f16) or the 1.1B shape's (22 layers, KV dim 256: 352 KiB).
/// Usage: kv-remote --store redis://127.0.0.1:6379 [--shape tiny|tinyllama] [--blocks 125] [--rounds 5]
/// </summary>
public static class RemoteTierBench
{
    public static int Run(string[] args)
    {
        string url = BenchModels.Option(args, "--store", "redis://127.0.0.1:6379");
        string shape = BenchModels.Option(args, "--shape", "tiny");
        int blocks = int.Parse(BenchModels.Option(args, "--blocks", "125"), CultureInfo.InvariantCulture);
        int rounds = int.Parse(BenchModels.Option(args, "--rounds", "5"), CultureInfo.InvariantCulture);
        var layout = shape == "tinyllama" ? new KvLayout(22, 256, 16) : new KvLayout(6, 64, 16);
        var fingerprint = BlockHash.Digest(System.Text.Encoding.UTF8.GetBytes("kv-remote-bench/" + shape));
        using var tier = new RedisKvTier(RedisKvTierOptions.Parse(url) with { Timeout = TimeSpan.FromSeconds(10) },
            new KvTierContext(fingerprint, layout, "bench", w => Console.Error.WriteLine("warning: " + w)));
        var keys = new BlockHash[blocks];
        var parent = fingerprint;
        for (int i = 0; i < blocks; i++) keys[i] = parent = BlockHash.Chain(parent, [i, i + 1, i + 2]);
        var payload = new byte[layout.BlockBytes];
        new Random(1).NextBytes(payload);
        var into = Enumerable.Range(0, blocks).Select(_ => new byte[layout.BlockBytes]).ToArray();
        var ok = new bool[blocks];
        var writes = new List<double>();
        var reads = new List<double>();
        for (int round = 0; round < rounds; round++)
        {
            var clock = Stopwatch.StartNew();
            foreach (var k in keys)
                while (!tier.TryWrite(k, payload)) Thread.Sleep(0);   // at most 256 in flight: wait for room
            tier.WaitForWrites(TimeSpan.FromSeconds(60));
            writes.Add(clock.Elapsed.TotalMilliseconds);
            clock.Restart();
            tier.ReadMany(keys, i => into[i], ok);
            reads.Add(clock.Elapsed.TotalMilliseconds);
            if (ok.Any(x => !x)) throw new InvalidOperationException("a block did not read back");
        }
        double mb = (double)blocks * KvBlockRecord.CompactBytes(layout) / 1e6;
        double w = BenchModels.Median(writes), r = BenchModels.Median(reads);
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
            "{0}: {1} blocks of {2:F0} KiB ({3:F1} MB): write {4:F1} ms ({5:F0} MB/s), read in one batch {6:F1} ms ({7:F0} MB/s, {8:F0} us per block); median of {9}",
            tier.Options.Display, blocks, layout.BlockBytes / 1024.0, mb, w, mb / (w / 1000), r, mb / (r / 1000), r * 1000 / blocks, rounds));
        return 0;
    }
}
