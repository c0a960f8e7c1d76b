using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Strata.Router;

/// <summary>
/// Active health checks: every interval, each backend's /health (200 is healthy) and, when healthy, its /metrics for
/// the load gauges (<c>strata_num_requests_waiting</c>, <c>strata_num_requests_running</c>). A backend is taken out
/// after <see cref="RouterOptions.FailuresToDown"/> failed checks in a row, or at once when a request cannot reach it
/// (<see cref="MarkDown"/>); it comes back with its first good check. Going out forgets its cached prefixes.
/// </summary>
public sealed class BackendMonitor : IAsyncDisposable
{
    private readonly IReadOnlyList<Backend> _backends;
    private readonly AffinityTable _table;
    private readonly RouterOptions _o;
    private readonly ILogger _log;
    private readonly HttpClient _http;
    private readonly int[] _failures;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public BackendMonitor(IReadOnlyList<Backend> backends, AffinityTable table, RouterOptions options, ILogger log)
    {
        _backends = backends;
        _table = table;
        _o = options;
        _log = log;
        _failures = new int[backends.Count];
        var timeout = TimeSpan.FromTicks(Math.Clamp(options.CheckInterval.Ticks * 2, TimeSpan.FromMilliseconds(500).Ticks, TimeSpan.FromSeconds(5).Ticks));
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = timeout }) { Timeout = timeout };
    }

    /// <summary>Checks every backend once (so the router starts knowing which are up), then keeps checking.</summary>
    public async Task StartAsync()
    {
        await CheckAllAsync(_stop.Token);
        _loop = Task.Run(() => LoopAsync(_stop.Token));
    }

    private async Task LoopAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(_o.CheckInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop)) await CheckAllAsync(stop);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
    }

    public Task CheckAllAsync(CancellationToken cancel) => Task.WhenAll(_backends.Select(b => CheckAsync(b, cancel)));

    private async Task CheckAsync(Backend b, CancellationToken cancel)
    {
        string? problem;
        try
        {
            using var health = await _http.GetAsync(new Uri(b.Address, "/health"), cancel);
            problem = (int)health.StatusCode == 200 ? null : $"/health answered {(int)health.StatusCode}";
            if (problem is null)
            {
                int before = b.InFlight;
                string metrics = await _http.GetStringAsync(new Uri(b.Address, "/metrics"), cancel);
                // The backend counted those of the router's requests that were in flight while it answered.
                b.InFlightAtScrape = Math.Min(before, b.InFlight);
                b.Waiting = Gauge(metrics, "strata_num_requests_waiting");
                b.Running = Gauge(metrics, "strata_num_requests_running");
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancel.IsCancellationRequested)
        {
            problem = e is TaskCanceledException ? "no answer in time" : e.Message;
        }
        if (problem is null)
        {
            _failures[b.Index] = 0;
            b.LastSeen = DateTime.UtcNow;
            b.LastError = null;
            if (!b.Healthy)
            {
                b.Healthy = true;
                _log.LogInformation("backend {Backend} is up", b.Label);
            }
        }
        else if (++_failures[b.Index] >= _o.FailuresToDown || !b.LastSeen.HasValue) MarkDown(b, problem);
    }

    /// <summary>Takes a backend out now (a request could not reach it); the next good health check brings it back.</summary>
    public void MarkDown(Backend b, string why)
    {
        b.LastError = why;
        if (!b.Healthy) return;
        b.Healthy = false;
        b.Waiting = b.Running = 0;
        _table.Forget(b.Index);
        _log.LogWarning("backend {Backend} is down: {Why}; new requests go to the others", b.Label, why);
    }

    /// <summary>The value of an unlabelled gauge in Prometheus text, 0 when absent.</summary>
    public static double Gauge(string text, string name)
    {
        foreach (var line in text.AsSpan().EnumerateLines())
            if (line.StartsWith(name) && line.Length > name.Length && line[name.Length] == ' '
                && double.TryParse(line[(name.Length + 1)..].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
                return v;
        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null) await _loop;
        _http.Dispose();
        _stop.Dispose();
    }
}
