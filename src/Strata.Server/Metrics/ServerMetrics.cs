using System.Diagnostics.Metrics;
using Strata.Engine;
using Strata.Engine.Serving;
using Strata.Server.Hosting;

namespace Strata.Server.Metrics;

/// <summary>
/// The server's instruments on a <see cref="Meter"/> named "Strata" (so dotnet-counters and OpenTelemetry see them),
/// named after vLLM's metrics with "strata." for "vllm:". <see cref="PrometheusExport"/> turns the dots into
/// underscores and adds "_total" to counters and "_seconds" to histograms in seconds, as Prometheus names them.
/// </summary>
public sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "Strata";

    // vLLM's buckets for request latencies (seconds).
    private static readonly double[] TtftBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
    private static readonly double[] TokenBuckets = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
    private static readonly double[] RequestBuckets = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];

    private readonly ModelHost _host;

    public ServerMetrics(ModelHost host)
    {
        _host = host;
        Meter = new Meter(MeterName, typeof(ServerMetrics).Assembly.GetName().Version?.ToString(3));
        TimeToFirstToken = Meter.CreateHistogram<double>("strata.time_to_first_token", "s", "Time from arrival to the first generated token.");
        InterTokenLatency = Meter.CreateHistogram<double>("strata.inter_token_latency", "s", "Time between two tokens of one choice.");
        TimePerOutputToken = Meter.CreateHistogram<double>("strata.time_per_output_token", "s", "Mean time per generated token after the first, per request.");
        E2eLatency = Meter.CreateHistogram<double>("strata.e2e_request_latency", "s", "Time from arrival to the last token.");
        QueueTime = Meter.CreateHistogram<double>("strata.request_queue_time", "s", "Time a request waited for a slot.");
        PromptTokens = Meter.CreateCounter<long>("strata.prompt_tokens", "{token}", "Prompt tokens of finished requests.");
        GenerationTokens = Meter.CreateCounter<long>("strata.generation_tokens", "{token}", "Generated tokens.");
        RequestSuccess = Meter.CreateCounter<long>("strata.request_success", "{choice}", "Finished choices by finish reason (stop, length, abort).");
        ApiRequests = Meter.CreateCounter<long>("strata.api_requests", "{request}", "HTTP requests by endpoint and status.");

        Meter.CreateObservableGauge("strata.num_requests_running", () => Load().Running, "{sequence}", "Sequences being computed.");
        Meter.CreateObservableGauge("strata.num_requests_waiting", () => Load().Waiting, "{request}", "Requests waiting for a slot.");
        Meter.CreateObservableCounter("strata.num_preemptions", () => _host.IsReady ? _host.Engine.Preemptions : 0L, "{sequence}", "Sequences preempted because the KV pool ran out.");
        Meter.CreateObservableGauge("strata.kv_cache_usage_perc", () => Kv(m => 1.0 - (double)m.KvPool.FreeBlocks / Math.Max(1, m.KvPool.Capacity)), "1", "Fraction of DRAM KV blocks in use.");
        // vLLM counts prefix-cache queries and hits in tokens.
        Meter.CreateObservableCounter("strata.prefix_cache_queries", () => Kv(m => m.KvCache.PrefixQueriedBlocks * m.KvCache.Layout.BlockTokens), "{token}", "Prompt tokens looked up in the prefix cache.");
        Meter.CreateObservableCounter("strata.prefix_cache_hits", () => Kv(m => m.KvCache.PrefixHitBlocks * m.KvCache.Layout.BlockTokens), "{token}", "Prompt tokens found in the prefix cache (any tier).");
        Meter.CreateObservableCounter("strata.kv_tier_hits", TierHits, "{block}", "Prefix blocks found, by tier.");
        Meter.CreateObservableCounter("strata.kv_tier_writes", () => Tiers(t => t.Writes), "{block}", "Blocks written to a lower tier.");
        Meter.CreateObservableCounter("strata.kv_tier_misses", () => Tiers(t => t.Misses), "{block}", "Reads from a lower tier that found no usable block (absent, corrupt, or the tier failing).");
        Meter.CreateObservableCounter("strata.kv_tier_write_failures", () => Tiers(t => t.WriteFailures), "{block}", "Blocks a lower tier did not take (full, failing, or too many writes in flight).");
        Meter.CreateObservableCounter("strata.kv_tier_dropped_writes", () => Tiers(t => t.DroppedWrites), "{block}", "Blocks not written because a lower tier's write queue was full.");
        Meter.CreateObservableCounter("strata.kv_tier_corrupt_blocks", () => Health(h => h.CorruptBlocks), "{block}", "Values a tier held that failed their version, identity or checksum check (each a miss).");
        Meter.CreateObservableCounter("strata.kv_tier_errors", () => Health(h => h.Errors), "{operation}", "Tier operations that failed, timed out, or were skipped while the tier was unavailable.");
        Meter.CreateObservableGauge("strata.kv_tier_available", () => Health(h => h.Available ? 1 : 0), "1", "1 while a tier is used, 0 while it is skipped after failures (circuit breaker open).");
        Meter.CreateObservableGauge("strata.kv_blocks", () => AllTiers(dram: m => m.KvPool.CachedBlocks, lower: t => t.Count), "{block}", "KV blocks held, by tier.");
        Meter.CreateObservableGauge("strata.kv_capacity_blocks", () => AllTiers(dram: m => m.KvPool.Capacity, lower: t => t.Capacity), "{block}", "KV block capacity, by tier.");
        Meter.CreateObservableGauge("strata.kv_bytes", () => AllTiers(dram: m => (long)m.KvPool.CachedBlocks * m.KvCache.Layout.BlockBytes,
            lower: t => t.Count * (long)_host.Model.KvCache.Layout.BlockBytes), "By", "KV bytes held, by tier.");
    }

    public Meter Meter { get; }
    public Histogram<double> TimeToFirstToken { get; }
    public Histogram<double> InterTokenLatency { get; }
    public Histogram<double> TimePerOutputToken { get; }
    public Histogram<double> E2eLatency { get; }
    public Histogram<double> QueueTime { get; }
    public Counter<long> PromptTokens { get; }
    public Counter<long> GenerationTokens { get; }
    public Counter<long> RequestSuccess { get; }
    public Counter<long> ApiRequests { get; }

    /// <summary>Label names per instrument, so the exporter can declare them before the first measurement.</summary>
    public static string[] LabelsOf(Instrument i) => i.Name switch
    {
        "strata.request_success" => ["finished_reason"],
        "strata.api_requests" => ["endpoint", "status"],
        "strata.kv_tier_hits" or "strata.kv_tier_writes" or "strata.kv_blocks" or "strata.kv_capacity_blocks" or "strata.kv_bytes"
            or "strata.kv_tier_misses" or "strata.kv_tier_write_failures" or "strata.kv_tier_dropped_writes" or "strata.kv_tier_corrupt_blocks"
            or "strata.kv_tier_errors" or "strata.kv_tier_available" => ["tier"],
        _ => [],
    };

    public static double[] BucketsOf(Instrument i) => i.Name switch
    {
        "strata.time_to_first_token" or "strata.request_queue_time" => TtftBuckets,
        "strata.inter_token_latency" or "strata.time_per_output_token" => TokenBuckets,
        _ => RequestBuckets,
    };

    /// <summary>OpenAI's finish_reason is "stop" or "length"; a cancelled or timed-out choice counts as vLLM's "abort".</summary>
    public static string FinishedReason(StopReason r) => r switch
    {
        StopReason.EndOfGeneration or StopReason.StopString => "stop",
        StopReason.MaxTokens or StopReason.ContextFull => "length",
        _ => "abort",
    };

    private EngineLoad Load() => _host.IsReady ? _host.Engine.Load : default;

    private double Kv(Func<Model, double> f) => _host.IsReady ? f(_host.Model) : 0;

    private IEnumerable<Measurement<long>> Tiers(Func<Kv.Tiers.KvTierLevel, long> f) =>
        _host.IsReady ? _host.Model.KvCache.LowerTiers.Select(t => new Measurement<long>(f(t), new KeyValuePair<string, object?>("tier", t.Name))).ToArray() : [];

    private IEnumerable<Measurement<long>> Health(Func<Kv.Tiers.IKvTierHealth, long> f) =>
        _host.IsReady
            ? _host.Model.KvCache.LowerTiers.Where(t => t.Tier is Kv.Tiers.IKvTierHealth)
                .Select(t => new Measurement<long>(f((Kv.Tiers.IKvTierHealth)t.Tier), new KeyValuePair<string, object?>("tier", t.Name))).ToArray()
            : [];

    /// <summary>Blocks, capacity and bytes per tier; a remote tier's are its store's business and not known here.</summary>
    private IEnumerable<Measurement<long>> AllTiers(Func<Model, long> dram, Func<Kv.Tiers.KvTierLevel, long> lower)
    {
        if (!_host.IsReady) return [];
        var m = _host.Model;
        var local = m.KvCache.LowerTiers.Where(t => !t.StoreManaged)
            .Select(t => new Measurement<long>(lower(t), new KeyValuePair<string, object?>("tier", t.Name)));
        return [new Measurement<long>(dram(m), new KeyValuePair<string, object?>("tier", "dram")), .. local];
    }

    /// <summary>Hits per tier; DRAM's are the prefix hits no lower tier had to supply.</summary>
    private IEnumerable<Measurement<long>> TierHits()
    {
        if (!_host.IsReady) return [];
        var cache = _host.Model.KvCache;
        var hits = cache.PrefixHitsByTier;
        string[] tiers = ["dram", .. cache.LowerTiers.Select(t => t.Name)];
        return tiers.Select(tier =>
            new Measurement<long>(hits.GetValueOrDefault(tier), new KeyValuePair<string, object?>("tier", tier))).ToArray();
    }

    public void Dispose() => Meter.Dispose();
}
