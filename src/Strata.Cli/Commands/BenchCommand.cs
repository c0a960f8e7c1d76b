using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Strata.Engine;

namespace Strata.Cli.Commands;

/// <summary><c>strata bench</c>: prefill and decode speed of a model on this machine, against its read bandwidth.</summary>
internal sealed class BenchCommand : Command
{
    private readonly Option<string?> _model = CommonOptions.Model();
    private readonly Option<int> _prompt = Opt.Int("--prompt-tokens", [], "prompt length for the prefill figure", 512, 1, 1 << 20);
    private readonly Option<int> _gen = Opt.Int("--gen-tokens", [], "tokens decoded for the decode figure", 128, 1, 1 << 20);
    private readonly Option<int> _repeat = Opt.Int("--repeat", [], "repetitions (the median is printed)", 3, 1, 1000, "R");
    private readonly Option<int> _batch = Opt.Int("--batch", [], "also decode B sequences together and print their aggregate rate", 1, 1, 256, "B");
    private readonly Option<int> _ctx = CommonOptions.CtxSize(description: "context size (0: prompt + generated tokens)");
    private readonly Option<int> _threads = CommonOptions.Threads();
    private readonly Option<bool> _profile = new("--profile") { Description = "also print where the time of prefill, decode and batch decode goes, per part of the forward pass" };
    private readonly Option<bool> _json = CommonOptions.Json("print one JSON object: prefill_tok_s, decode_tok_s, bytes_per_token, mem_bw_gbs, bw_fraction, peak_rss_mb (batch_decode_tok_s with --batch)");

    public BenchCommand() : base("bench", "measure prefill and decode tokens/s, weight bytes per token and the share of the memory bandwidth decode reaches")
    {
        foreach (var o in new Option[] { _model, _prompt, _gen, _repeat, _batch, _ctx, _threads, _profile, _json }) Add(o);
        SetAction(Execute);
    }

    private int Execute(ParseResult p)
    {
        var o = new SpeedBenchmarkOptions
        {
            PromptTokens = p.GetValue(_prompt),
            GenTokens = p.GetValue(_gen),
            Repeat = p.GetValue(_repeat),
            Batch = p.GetValue(_batch),
            Profile = p.GetValue(_profile),
        };
        int ctx = p.GetValue(_ctx) > 0 ? p.GetValue(_ctx) : o.PromptTokens + o.GenTokens + 8;
        using var model = Model.Load(CommonOptions.ModelPath(p.GetValue(_model)),
            new ModelOptions { Threads = p.GetValue(_threads), Context = ctx, MaxSequences = o.Batch });
        var r = Terminal.WithProgress("bench", "runs", progress => SpeedBenchmark.Run(model, o, progress), scale: 1);
        var inv = CultureInfo.InvariantCulture;
        if (p.GetValue(_json))
        {
            using (var w = new Utf8JsonWriter(Console.OpenStandardOutput()))
            {
                w.WriteStartObject();
                w.WriteString("model", Path.GetFileName(model.Path));
                w.WriteNumber("threads", model.Transformer.Pool.Threads);
                w.WriteNumber("prompt_tokens", o.PromptTokens);
                w.WriteNumber("gen_tokens", o.GenTokens);
                w.WriteNumber("prefill_tok_s", Math.Round(r.PrefillTokensPerSecond, 3));
                w.WriteNumber("decode_tok_s", Math.Round(r.DecodeTokensPerSecond, 3));
                w.WriteNumber("bytes_per_token", r.BytesPerToken);
                w.WriteNumber("mem_bw_gbs", Math.Round(r.MemoryBandwidthGBs, 3));
                w.WriteNumber("mem_bw_gbs_min", Math.Round(r.MemoryBandwidthRangeGBs.Min, 3));
                w.WriteNumber("mem_bw_gbs_max", Math.Round(r.MemoryBandwidthRangeGBs.Max, 3));
                w.WriteNumber("bw_fraction", Math.Round(r.BandwidthFraction, 4));
                w.WriteNumber("peak_rss_mb", Math.Round(r.PeakResidentBytes / 1e6, 1));
                if (r.BatchDecodeTokensPerSecond is double b)
                {
                    w.WriteNumber("batch", o.Batch);
                    w.WriteNumber("batch_decode_tok_s", Math.Round(b, 3));
                }
                if (o.Profile)
                {
                    w.WriteStartObject("profile");
                    foreach (var (name, prof) in Profiles(r))
                    {
                        w.WriteStartObject(name);
                        w.WriteNumber("calls", prof.Calls);
                        w.WriteNumber("tokens", prof.Tokens);
                        foreach (var row in prof.Rows()) w.WriteNumber(Snake(row.Phase.ToString()) + "_ms", Math.Round(row.MsPerCall, 4));
                        w.WriteEndObject();
                    }
                    w.WriteEndObject();
                }
                w.WriteEndObject();
            }
            Console.Out.WriteLine();
            return 0;
        }
        Console.Out.WriteLine(string.Format(inv, "{0}, {1} threads", Path.GetFileName(model.Path), model.Transformer.Pool.Threads));
        Console.Out.WriteLine(string.Format(inv, "prefill  {0,9:F1} tok/s  ({1} tokens)", r.PrefillTokensPerSecond, o.PromptTokens));
        Console.Out.WriteLine(string.Format(inv, "decode   {0,9:F1} tok/s  ({1} tokens)", r.DecodeTokensPerSecond, o.GenTokens));
        if (r.BatchDecodeTokensPerSecond is double bt)
            Console.Out.WriteLine(string.Format(inv, "batch    {0,9:F1} tok/s  ({1} sequences together, {2:F2}x one)", bt, o.Batch, bt / r.DecodeTokensPerSecond));
        Console.Out.WriteLine(string.Format(inv, "weights read per token {0:F1} MB; memory read bandwidth {1:F1} GB/s ({2:F1}-{3:F1} over the probes); decode reaches {4:P0} of it",
            r.BytesPerToken / 1e6, r.MemoryBandwidthGBs, r.MemoryBandwidthRangeGBs.Min, r.MemoryBandwidthRangeGBs.Max, r.BandwidthFraction));
        Console.Out.WriteLine(string.Format(inv, "peak resident memory {0:F0} MB", r.PeakResidentBytes / 1e6));
        foreach (var (name, prof) in Profiles(r))
        {
            Console.Out.WriteLine(string.Format(inv, "{0}: {1:F2} ms per forward call of {2:F0} tokens", name, prof.Total.TotalMilliseconds / Math.Max(1, prof.Calls), (double)prof.Tokens / Math.Max(1, prof.Calls)));
            foreach (var row in prof.Rows())
                Console.Out.WriteLine(string.Format(inv, "  {0,-14} {1,9:F3} ms {2,6:P1}", row.Phase, row.MsPerCall, row.Share));
        }
        return 0;
    }

    private static IEnumerable<(string Name, Strata.Models.ForwardProfile Profile)> Profiles(SpeedBenchmarkResult r)
    {
        if (r.PrefillProfile is { } p) yield return ("prefill", p);
        if (r.DecodeProfile is { } d) yield return ("decode", d);
        if (r.BatchProfile is { } b) yield return ("batch", b);
    }

    private static string Snake(string name) =>
        string.Concat(name.Select((ch, i) => char.IsUpper(ch) && i > 0 ? "_" + char.ToLowerInvariant(ch) : char.ToLowerInvariant(ch).ToString()));
}
