using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Strata.Server.Api;
using Strata.Server.Endpoints;
using Strata.Server.Metrics;

namespace Strata.Server.Hosting;

/// <summary>
/// The OpenAI-compatible HTTP server: Kestrel on the given address, the model loaded in the background once it
/// listens, and on shutdown (SIGTERM, Ctrl-C, <see cref="DisposeAsync"/>) no new connections, in-flight requests
/// given <see cref="ServerLimits.ShutdownGraceSeconds"/> to finish before they are cancelled, the KV tiers flushed.
/// </summary>
public sealed class StrataServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private bool _disposed;

    private StrataServer(WebApplication app, ModelHost host)
    {
        _app = app;
        Host = host;
    }

    public ModelHost Host { get; }
    /// <summary>Where it listens (with the real port when 0 was asked), once started.</summary>
    public Uri? Address { get; private set; }
    public IServiceProvider Services => _app.Services;

    /// <param name="logging">Where logs go; none when left out.</param>
    public static StrataServer Create(StrataServerOptions options, Action<ILoggingBuilder>? logging = null)
    {
        // --kv-tiers remote=… is built by Strata.Kv.Redis; Strata.Core knows it only by name.
        Strata.Kv.Redis.RedisKvTier.Register();
        // The engine's compute threads keep every core busy while they decode; request handlers must not also wait for
        // the thread pool to inject threads one by one (on a 2-core machine it starts with 2).
        ThreadPool.GetMinThreads(out int workers, out int io);
        if (workers < 16) ThreadPool.SetMinThreads(16, Math.Max(io, 16));
        var address = ParseHost(options.Host);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = "Strata.Server",
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });
        builder.Configuration.GetSection("Strata:Limits").Bind(options.Limits);
        var limits = options.Limits;
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = limits.MaxBodyBytes;
            k.Listen(address, options.Port);
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(Math.Max(0, limits.ShutdownGraceSeconds)));
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<ModelHost>(sp => new ModelHost(options, sp.GetRequiredService<ILogger<ModelHost>>()));
        builder.Services.AddSingleton<ServerMetrics>();
        builder.Services.AddSingleton(sp => new PrometheusExport(sp.GetRequiredService<ServerMetrics>().Meter, ServerMetrics.LabelsOf, ServerMetrics.BucketsOf));
        builder.Services.AddSingleton(new ApiKeyCheck(options.ApiKey));

        var app = builder.Build();
        // The exporter must listen before the meter's instruments are published (both are created here, in order).
        _ = app.Services.GetRequiredService<PrometheusExport>();
        var host = app.Services.GetRequiredService<ModelHost>();
        app.UseMiddleware<ApiPipeline>();
        ChatEndpoints.Map(app);
        MessagesEndpoints.Map(app);
        ResponsesEndpoints.Map(app);
        CompletionEndpoints.Map(app);
        EmbeddingEndpoints.Map(app);
        InfoEndpoints.Map(app);
        TokenizeEndpoints.Map(app);
        app.MapFallback(ctx => throw new ApiException(404, $"Invalid URL ({ctx.Request.Method} {ctx.Request.Path})."));
        return new StrataServer(app, host);
    }

    private static IPAddress ParseHost(string host)
    {
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)) return IPAddress.Loopback;
        if (IPAddress.TryParse(host, out var ip)) return ip;
        throw new StrataException($"--host must be an IP address (127.0.0.1, 0.0.0.0, ::) or localhost, got '{host}'");
    }

    /// <summary>Starts listening, then loads the model in the background (/health says 503 until it is ready).</summary>
    public async Task StartAsync(CancellationToken cancel = default)
    {
        await _app.StartAsync(cancel);
        var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        string first = addresses?.FirstOrDefault() ?? throw new InvalidOperationException("Kestrel reported no address");
        Address = new Uri(first.Replace("[::]", "[::1]").Replace("0.0.0.0", "127.0.0.1"));
        _app.Logger.LogInformation("listening on {Address}", first);
        Host.BeginLoad();
    }

    /// <summary>Completes when the host is told to stop (SIGTERM, Ctrl-C) and has stopped.</summary>
    public Task WaitForShutdownAsync(CancellationToken cancel = default) => _app.WaitForShutdownAsync(cancel);

    public Task StopAsync() => _app.StopAsync();

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        await _app.StopAsync();
        // The engine and the model go after Kestrel: no request is left to use them; pending tier writes are flushed.
        Host.Dispose();
        await _app.DisposeAsync();
    }
}
