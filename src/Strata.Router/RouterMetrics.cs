using Prometheus;

namespace Strata.Router;

/// <summary>The router's /metrics (Prometheus text, prometheus-net): where requests went and why, and each backend's state.</summary>
public sealed class RouterMetrics
{
    private readonly CollectorRegistry _registry = Metrics.NewCustomRegistry();

    public RouterMetrics(IReadOnlyList<Backend> backends)
    {
        var f = Metrics.WithCustomRegistry(_registry);
        Requests = f.CreateCounter("strata_router_requests_total", "Requests forwarded, by backend and why it was chosen (affinity, balanced, round_robin).",
            new CounterConfiguration { LabelNames = ["backend", "route"] });
        AffinityHits = f.CreateCounter("strata_router_affinity_hits_total", "Requests sent to a backend believed to hold a prefix of their prompt.");
        MatchedBlocks = f.CreateCounter("strata_router_prefix_blocks_total", "Leading prompt blocks the chosen backend was believed to hold, summed.");
        PromptBlocks = f.CreateCounter("strata_router_prompt_blocks_total", "Leading prompt blocks hashed for routing, summed.");
        Retries = f.CreateCounter("strata_router_retries_total", "Requests sent again to another backend because theirs failed before answering.",
            new CounterConfiguration { LabelNames = ["backend"] });
        Errors = f.CreateCounter("strata_router_backend_errors_total", "Forwarding failures, by backend.", new CounterConfiguration { LabelNames = ["backend"] });
        Unavailable = f.CreateCounter("strata_router_unavailable_total", "Requests answered 503 because no backend was healthy.");
        var up = f.CreateGauge("strata_router_backend_up", "1 when the backend's /health answers 200.", new GaugeConfiguration { LabelNames = ["backend"] });
        var load = f.CreateGauge("strata_router_backend_load", "Sequences on the backend: waiting and running from others (its /metrics) plus this router's in flight.",
            new GaugeConfiguration { LabelNames = ["backend"] });
        var inFlight = f.CreateGauge("strata_router_backend_in_flight", "This router's requests in flight to the backend.", new GaugeConfiguration { LabelNames = ["backend"] });
        var pending = f.CreateGauge("strata_router_backend_pending_blocks", "Prompt blocks this router's requests in flight to the backend had to compute when sent (the prefill work routing weighs).",
            new GaugeConfiguration { LabelNames = ["backend"] });
        _registry.AddBeforeCollectCallback(() =>
        {
            foreach (var b in backends)
            {
                up.WithLabels(b.Label).Set(b.Healthy ? 1 : 0);
                load.WithLabels(b.Label).Set(b.Load);
                inFlight.WithLabels(b.Label).Set(b.InFlight);
                pending.WithLabels(b.Label).Set(b.PendingBlocks);
            }
        });
    }

    public Counter Requests { get; }
    public Counter AffinityHits { get; }
    public Counter MatchedBlocks { get; }
    public Counter PromptBlocks { get; }
    public Counter Retries { get; }
    public Counter Errors { get; }
    public Counter Unavailable { get; }

    public static string RouteLabel(RouteReason r) => r switch
    {
        RouteReason.Affinity => "affinity",
        RouteReason.Balanced => "balanced",
        _ => "round_robin",
    };

    public Task WriteAsync(Stream output, CancellationToken cancel) => _registry.CollectAndExportAsTextAsync(output, cancel);
}
