using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Strata.Kv;
using Strata.Kv.Policies;
using Strata.Kv.Replay;
using Strata.Kv.Tiers;

namespace Strata.Cli.Commands;

/// <summary><c>strata kv stats|clear|replay|trace</c>: look into, empty and simulate the tiered KV cache.</summary>
internal sealed class KvCommand : Command
{
    public KvCommand() : base("kv", "inspect, clear and simulate the tiered KV cache (stats, clear, replay, trace)")
    {
        Add(new KvStatsCommand());
        Add(new KvClearCommand());
        Add(new KvReplayCommand());
        Add(new KvTraceCommand());
    }

    public static Option<string> KvDir() => new("--kv-dir") { Description = "the KV directory (as given to run --kv-dir)", HelpName = "DIR", Required = true };

    public static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        _ => (bytes >> 10).ToString(CultureInfo.InvariantCulture) + " KiB",
    };
}

/// <summary><c>strata kv stats --kv-dir DIR</c>: blocks and bytes per model fingerprint, and what backs each tier.</summary>
internal sealed class KvStatsCommand : Command
{
    private readonly Option<string> _dir = KvCommand.KvDir();
    private readonly Option<bool> _json = CommonOptions.Json("print one JSON object: dir, tiers, models (fingerprint, model, kv_type, block_tokens, blocks, bytes)");

    public KvStatsCommand() : base("stats", "blocks and bytes in a KV directory, by model fingerprint, and what each tier is on this machine")
    {
        Add(_dir);
        Add(_json);
        SetAction(Execute);
    }

    private int Execute(ParseResult p)
    {
        string dir = p.GetValue(_dir)!;
        var models = KvDirectory.Models(dir);
        var numa = NumaTopology.Detect();
        var tiers = new (string Name, string What)[]
        {
            ("dram", "the working pool in this process's memory"),
            ("far", numa.Describe()),
            ("ssd", $"{KvDirectory.FormatRoot(dir)} (format v{SsdKvTier.FormatVersion})"),
        };
        if (p.GetValue(_json))
        {
            using (var w = new Utf8JsonWriter(Console.OpenStandardOutput()))
            {
                w.WriteStartObject();
                w.WriteString("dir", Path.GetFullPath(dir));
                w.WriteStartObject("tiers");
                foreach (var (name, what) in tiers) w.WriteString(name, what);
                w.WriteEndObject();
                w.WriteStartArray("models");
                foreach (var m in models)
                {
                    w.WriteStartObject();
                    w.WriteString("fingerprint", m.Fingerprint);
                    w.WriteString("model", m.Info?.Model);
                    w.WriteString("kv_type", m.Info?.KvType);
                    if (m.Info is { } i) w.WriteNumber("block_tokens", i.BlockTokens);
                    w.WriteNumber("blocks", m.Blocks);
                    w.WriteNumber("bytes", m.Bytes);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteNumber("blocks", models.Sum(m => m.Blocks));
                w.WriteNumber("bytes", models.Sum(m => m.Bytes));
                w.WriteEndObject();
            }
            Console.Out.WriteLine();
            return 0;
        }
        if (Terminal.Stdout is { } console)
        {
            var t = new Table().AddColumns("fingerprint", "model", "kv", "blocks", "bytes");
            foreach (var m in models)
                t.AddRow(m.Fingerprint[..16], Markup.Escape(m.Info?.Model ?? "?"), $"{m.Info?.KvType ?? "?"} x{m.Info?.BlockTokens}", m.Blocks.ToString(CultureInfo.InvariantCulture), KvCommand.Size(m.Bytes));
            console.Write(t);
            foreach (var (name, what) in tiers) console.MarkupLine($"[grey]{name}:[/] {Markup.Escape(what)}");
            return 0;
        }
        Console.Out.WriteLine($"{Path.GetFullPath(dir)}: {models.Sum(m => m.Blocks)} blocks, {KvCommand.Size(models.Sum(m => m.Bytes))} in {models.Count} model(s)");
        foreach (var m in models)
            Console.Out.WriteLine($"  {m.Fingerprint}  {m.Info?.Model ?? "?"}  {m.Info?.KvType ?? "?"} x{m.Info?.BlockTokens}  {m.Blocks} blocks  {KvCommand.Size(m.Bytes)}");
        foreach (var (name, what) in tiers) Console.Out.WriteLine($"{name}: {what}");
        return 0;
    }
}

/// <summary><c>strata kv clear --kv-dir DIR [--model FINGERPRINT]</c>.</summary>
internal sealed class KvClearCommand : Command
{
    private readonly Option<string> _dir = KvCommand.KvDir();
    private readonly Option<string?> _model = new("--model") { Description = "only this model's blocks: its fingerprint, or its first digits (see kv stats)", HelpName = "FINGERPRINT" };

    public KvClearCommand() : base("clear", "delete the KV blocks in a KV directory, of every model or of one")
    {
        Add(_dir);
        Add(_model);
        SetAction(p =>
        {
            var cleared = KvDirectory.Clear(p.GetValue(_dir)!, p.GetValue(_model));
            Console.Out.WriteLine($"cleared {cleared.Sum(m => m.Blocks)} blocks ({KvCommand.Size(cleared.Sum(m => m.Bytes))}) of {cleared.Count} model(s)");
            return 0;
        });
    }
}

/// <summary><c>strata kv replay --trace FILE --tiers dram=N,far=N,ssd=N [--policy NAME] [--json]</c>.</summary>
internal sealed class KvReplayCommand : Command
{
    private readonly Option<string> _trace = new Option<string>("--trace") { Description = "request trace in the Mooncake format (JSON lines with hash_ids)", HelpName = "FILE", Required = true }.ExistingFile();
    private readonly Option<string> _tiers = new("--tiers") { Description = "capacities in blocks, e.g. dram=1000,far=2000,ssd=10000", HelpName = "SPEC", Required = true };
    private readonly Option<string> _policy = Opt.OneOf("--policy", [], "eviction policy", EvictionPolicies.Default, EvictionPolicies.Names);
    private readonly Option<string> _write = Opt.OneOf("--kv-write", [], "write-through to ssd as blocks complete, or write-back on eviction", "through", ["through", "back"]);
    private readonly Option<bool> _json = CommonOptions.Json("print one JSON object: requests, blocks, hits, hit_rate, hits_by_tier, policy, belady_hit_rate, infinite_hit_rate");

    public KvReplayCommand() : base("replay", "replay a request trace through the real cache code (metadata only) and print the prefix hit rate next to Belady's optimum")
    {
        foreach (var o in new Option[] { _trace, _tiers, _policy, _write, _json }) Add(o);
        SetAction(Execute);
    }

    private int Execute(ParseResult p)
    {
        ReplayTiers tiers;
        try { tiers = ReplayTiers.Parse(p.GetValue(_tiers)!); }
        catch (StrataException e) { throw new UsageException(e.Message); }
        var trace = MooncakeTrace.Read(p.GetValue(_trace)!);
        var mode = p.GetValue(_write) == "back" ? KvWriteMode.Back : KvWriteMode.Through;
        string policy = p.GetValue(_policy)!;
        var r = Terminal.WithProgress("replay", "requests", progress =>
            KvReplay.Run(trace, tiers, policy, mode, progress is null ? null : (done, total) => { if (done % 64 == 0 || done == total) progress(done, total); }), scale: 1);
        if (p.GetValue(_json))
        {
            using (var w = new Utf8JsonWriter(Console.OpenStandardOutput()))
            {
                w.WriteStartObject();
                w.WriteNumber("requests", r.Requests);
                w.WriteNumber("blocks", r.Blocks);
                w.WriteNumber("hits", r.Hits);
                w.WriteNumber("hit_rate", Math.Round(r.HitRate, 6));
                w.WriteStartObject("hits_by_tier");
                foreach (var (tier, hits) in r.HitsByTier) w.WriteNumber(tier, hits);
                w.WriteEndObject();
                w.WriteString("policy", r.Policy);
                w.WriteStartObject("tiers");
                w.WriteNumber("dram", tiers.Dram);
                w.WriteNumber("far", tiers.Far);
                w.WriteNumber("ssd", tiers.Ssd);
                w.WriteEndObject();
                w.WriteString("write", mode == KvWriteMode.Back ? "back" : "through");
                w.WriteNumber("belady_hit_rate", Math.Round(r.BeladyHitRate, 6));
                w.WriteNumber("infinite_hit_rate", Math.Round(r.InfiniteHitRate, 6));
                w.WriteNumber("clipped_blocks", r.ClippedBlocks);
                w.WriteEndObject();
            }
            Console.Out.WriteLine();
            return 0;
        }
        var inv = CultureInfo.InvariantCulture;
        Console.Out.WriteLine(string.Format(inv, "{0} requests, {1} blocks, policy {2}, tiers dram={3} far={4} ssd={5}", r.Requests, r.Blocks, r.Policy, tiers.Dram, tiers.Far, tiers.Ssd));
        Console.Out.WriteLine(string.Format(inv, "prefix hit rate {0:P2} ({1} blocks): {2}", r.HitRate, r.Hits, string.Join(", ", r.HitsByTier.Select(kv => $"{kv.Key} {kv.Value}"))));
        Console.Out.WriteLine(string.Format(inv, "Belady's optimum at {0} blocks {1:P2}; unbounded cache {2:P2}", tiers.Total, r.BeladyHitRate, r.InfiniteHitRate));
        if (r.ClippedBlocks > 0) Console.Out.WriteLine($"{r.ClippedBlocks} blocks of requests longer than dram counted as misses");
        return 0;
    }
}

/// <summary><c>strata kv trace --kind KIND -o FILE</c>: writes a synthetic trace in the Mooncake format.</summary>
internal sealed class KvTraceCommand : Command
{
    private readonly Option<string> _kind = Opt.OneOf("--kind", [], "traffic to generate", "mixed", TraceGenerator.Kinds.ToArray());
    private readonly Option<int> _requests = Opt.Int("--requests", [], "requests to generate", 4000, 1, 10_000_000);
    private readonly Option<int> _seed = Opt.Int("--seed", ["-s"], "seed (the same seed gives the same trace)", 1, int.MinValue, int.MaxValue);
    private readonly Option<string> _output = new("--output", "-o") { Description = "file to write", HelpName = "FILE", Required = true };

    public KvTraceCommand() : base("trace", "write a synthetic request trace (multi-turn, shared-system, rag or mixed traffic) in the Mooncake format")
    {
        foreach (var o in new Option[] { _kind, _requests, _seed, _output }) Add(o);
        SetAction(p =>
        {
            var trace = TraceGenerator.Generate(p.GetValue(_kind)!, p.GetValue(_requests), p.GetValue(_seed));
            MooncakeTrace.Write(p.GetValue(_output)!, trace);
            Console.Out.WriteLine($"wrote {trace.Count} requests, {trace.Sum(t => (long)t.HashIds.Length)} blocks to {p.GetValue(_output)}");
            return 0;
        });
    }
}
