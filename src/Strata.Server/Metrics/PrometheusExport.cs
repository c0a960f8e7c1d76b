using System.Diagnostics.Metrics;
using Prometheus;

namespace Strata.Server.Metrics;

/// <summary>
/// Exports one <see cref="Meter"/>'s instruments with prometheus-net, as Prometheus types them: counters as
/// counters (name + "_total"), histograms with buckets (seconds: name + "_seconds"), gauges as gauges. prometheus-net's
/// own MeterAdapter would export counters as gauges and take every meter in the process; this listens to ours only.
/// </summary>
public sealed class PrometheusExport : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly CollectorRegistry _registry = Prometheus.Metrics.NewCustomRegistry();
    private readonly IMetricFactory _factory;
    private readonly Dictionary<Instrument, Collector> _collectors = new();
    private readonly Lock _lock = new();

    public PrometheusExport(Meter meter, Func<Instrument, string[]> labels, Func<Instrument, double[]> buckets)
    {
        _factory = Prometheus.Metrics.WithCustomRegistry(_registry);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter != meter) return;
            lock (_lock) _collectors[instrument] = Create(instrument, labels(instrument), buckets(instrument));
            listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
        _registry.AddBeforeCollectCallback(() => _listener.RecordObservableInstruments());
    }

    /// <summary>The Prometheus name of an instrument: dots to underscores, and the suffix its type and unit call for.</summary>
    public static string NameOf(Instrument i)
    {
        string name = i.Name.Replace('.', '_');
        if (i.Unit == "s" && !name.EndsWith("_seconds", StringComparison.Ordinal)) name += "_seconds";
        if (i.Unit == "By" && !name.EndsWith("_bytes", StringComparison.Ordinal)) name += "_bytes";
        if (IsCounter(i)) name += "_total";
        return name;
    }

    private static bool IsCounter(Instrument i) => i.GetType().IsGenericType &&
        i.GetType().GetGenericTypeDefinition() is var t && (t == typeof(Counter<>) || t == typeof(ObservableCounter<>));

    private Collector Create(Instrument i, string[] labels, double[] buckets)
    {
        string name = NameOf(i), help = i.Description ?? i.Name;
        var def = i.GetType().GetGenericTypeDefinition();
        if (IsCounter(i)) return (Collector)_factory.CreateCounter(name, help, new CounterConfiguration { LabelNames = labels });
        if (def == typeof(Histogram<>)) return (Collector)_factory.CreateHistogram(name, help, new HistogramConfiguration { LabelNames = labels, Buckets = buckets });
        return (Collector)_factory.CreateGauge(name, help, new GaugeConfiguration { LabelNames = labels });
    }

    private void Record(Instrument i, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        Collector? c;
        lock (_lock) _collectors.TryGetValue(i, out c);
        if (c is null) return;
        string[] names = c.LabelNames;
        var values = new string[names.Length];
        for (int k = 0; k < names.Length; k++)
        {
            values[k] = "";
            foreach (var tag in tags)
                if (tag.Key == names[k]) values[k] = Convert.ToString(tag.Value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
        }
        bool observable = i.IsObservable;
        switch (c)
        {
            case Counter counter when observable: counter.WithLabels(values).IncTo(value); break;
            case Counter counter: counter.WithLabels(values).Inc(value); break;
            case Histogram h: h.WithLabels(values).Observe(value); break;
            case Gauge g when observable: g.WithLabels(values).Set(value); break;
            case Gauge g: g.WithLabels(values).Inc(value); break;
        }
    }

    public Task WriteAsync(Stream output, CancellationToken cancel) => _registry.CollectAndExportAsTextAsync(output, cancel);

    public void Dispose() => _listener.Dispose();
}
