using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Strata.Chat;
using Strata.Gguf;
using Strata.Tokenizers;
using Yarp.ReverseProxy.Forwarder;

namespace Strata.Router;

/// <summary>
/// <c>strata router</c>: Kestrel in front of several <c>strata serve</c> backends with the same OpenAI-compatible surface,
/// forwarded by YARP's <see cref="IHttpForwarder"/> (streams included). Generation requests are routed by the leading
/// block hashes of their prompt (<see cref="PromptBlocks"/>, <see cref="RoutingPolicy"/>); everything else goes to the
/// least loaded backend. A request that cannot reach its backend before any byte is answered is sent to another; a
/// backend that dies mid-stream fails only the streams it was serving. <c>/health</c> and <c>/metrics</c> are the router's own.
/// </summary>
public sealed class StrataRouter : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly BackendMonitor _monitor;
    private bool _disposed;

    private StrataRouter(WebApplication app, BackendMonitor monitor, RoutingPolicy policy)
    {
        _app = app;
        _monitor = monitor;
        Policy = policy;
    }

    public Uri? Address { get; private set; }
    public RoutingPolicy Policy { get; }
    public IReadOnlyList<Backend> Backends => Policy.Backends;

    public static StrataRouter Create(RouterOptions o, Action<ILoggingBuilder>? logging = null)
    {
        PromptBlocks prompts;
        using (var file = GgufFile.Open(o.ModelPath))
            prompts = new PromptBlocks(Tokenizer.FromGguf(file.Metadata), ChatPrompt.TemplateFor(file.Metadata));
        var backends = o.Backends.Select((u, i) => new Backend(i, u)).ToArray();
        var policy = new RoutingPolicy(backends, o.Policy, new AffinityTable(o.AffinityCapacity));

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "Strata.Router", ContentRootPath = AppContext.BaseDirectory, Args = [] });
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        var address = o.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback
            : IPAddress.TryParse(o.Host, out var ip) ? ip : throw new StrataException($"--host must be an IP address (127.0.0.1, 0.0.0.0, ::) or localhost, got '{o.Host}'");
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = o.MaxBodyBytes;
            k.Listen(address, o.Port);
        });
        builder.Services.AddHttpForwarder();
        var app = builder.Build();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Strata.Router");
        var monitor = new BackendMonitor(backends, policy.Table, o, log);
        var metrics = new RouterMetrics(backends);
        var forwarding = new Forwarding(o, policy, prompts, monitor, metrics, app.Services.GetRequiredService<IHttpForwarder>(), log);

        app.MapGet("/health", ctx => HealthAsync(ctx, backends));
        app.MapGet("/metrics", async ctx =>
        {
            ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await metrics.WriteAsync(ctx.Response.Body, ctx.RequestAborted);
        });
        app.Map("/{**path}", forwarding.HandleAsync);
        return new StrataRouter(app, monitor, policy);
    }

    /// <summary>200 while some backend is healthy, else 503; either way each backend's state.</summary>
    private static async Task HealthAsync(HttpContext ctx, Backend[] backends)
    {
        bool any = backends.Any(b => b.Healthy);
        ctx.Response.StatusCode = any ? 200 : 503;
        ctx.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(ctx.Response.Body);
        w.WriteStartObject();
        w.WriteString("status", any ? "ok" : "unavailable");
        if (!any)
        {
            w.WriteStartObject("error");
            w.WriteString("message", "No backend is healthy.");
            w.WriteString("type", "unavailable_error");
            w.WriteNull("param");
            w.WriteString("code", "no_backend");
            w.WriteEndObject();
        }
        w.WriteStartArray("backends");
        foreach (var b in backends)
        {
            w.WriteStartObject();
            w.WriteString("url", b.Label);
            w.WriteBoolean("healthy", b.Healthy);
            w.WriteNumber("waiting", b.Waiting);
            w.WriteNumber("running", b.Running);
            w.WriteNumber("in_flight", b.InFlight);
            w.WriteNumber("pending_blocks", b.PendingBlocks);
            if (b.LastError is { } e) w.WriteString("last_error", e);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>Listens, then checks every backend once before answering.</summary>
    public async Task StartAsync(CancellationToken cancel = default)
    {
        await _monitor.StartAsync();
        await _app.StartAsync(cancel);
        var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        string first = addresses?.FirstOrDefault() ?? throw new InvalidOperationException("Kestrel reported no address");
        Address = new Uri(first.Replace("[::]", "[::1]").Replace("0.0.0.0", "127.0.0.1"));
        _app.Logger.LogInformation("listening on {Address}", first);
        foreach (var b in Backends) _app.Logger.LogInformation("backend {Backend}: {State}", b.Label, b.Healthy ? "up" : $"down ({b.LastError})");
    }

    public Task WaitForShutdownAsync(CancellationToken cancel = default) => _app.WaitForShutdownAsync(cancel);

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        await _app.StopAsync();
        await _monitor.DisposeAsync();
        await _app.DisposeAsync();
    }
}
