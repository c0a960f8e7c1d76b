using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Strata.Kv;
using Yarp.ReverseProxy.Forwarder;

namespace Strata.Router;

/// <summary>One request through the router: read the body (bounded), pick a backend, forward, try another on failure.</summary>
internal sealed class Forwarding
{
    private readonly RouterOptions _o;
    private readonly RoutingPolicy _policy;
    private readonly PromptBlocks _prompts;
    private readonly BackendMonitor _monitor;
    private readonly RouterMetrics _metrics;
    private readonly IHttpForwarder _forwarder;
    private readonly ILogger _log;
    private readonly HttpMessageInvoker _client;
    private readonly ForwarderRequestConfig _config;

    public Forwarding(RouterOptions o, RoutingPolicy policy, PromptBlocks prompts, BackendMonitor monitor, RouterMetrics metrics, IHttpForwarder forwarder, ILogger log)
    {
        _o = o;
        _policy = policy;
        _prompts = prompts;
        _monitor = monitor;
        _metrics = metrics;
        _forwarder = forwarder;
        _log = log;
        _client = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = TimeSpan.FromSeconds(2),
            ActivityHeadersPropagator = null,
        });
        _config = new ForwarderRequestConfig { ActivityTimeout = o.ActivityTimeout };
    }

    private static bool Generates(string path) =>
        path.EndsWith("/chat/completions", StringComparison.Ordinal) || path.EndsWith("/completions", StringComparison.Ordinal);

    public async Task HandleAsync(HttpContext ctx)
    {
        string path = ctx.Request.Path.Value ?? "/";
        byte[] body;
        try
        {
            body = await ReadBodyAsync(ctx.Request, ctx.RequestAborted);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == 413)
        {
            await ErrorAsync(ctx, 413, "The request body is too large.", "invalid_request_error", "request_too_large");
            return;
        }
        var blocks = HttpMethods.IsPost(ctx.Request.Method) && Generates(path) ? _prompts.Of(path, body) : [];
        ulong tried = 0;
        string? lastError = null;
        for (int attempt = 0; attempt < _policy.Backends.Count; attempt++)
        {
            if (_policy.Pick(blocks, tried) is not { } choice) break;
            var b = choice.Backend;
            tried |= 1UL << b.Index;
            if (attempt > 0) _metrics.Retries.WithLabels(b.Label).Inc();
            _metrics.Requests.WithLabels(b.Label, RouterMetrics.RouteLabel(choice.Reason)).Inc();
            if (choice.Reason == RouteReason.Affinity) _metrics.AffinityHits.Inc();
            _metrics.MatchedBlocks.Inc(choice.MatchedBlocks);
            _metrics.PromptBlocks.Inc(blocks.Length);

            ctx.Request.Body = new MemoryStream(body, writable: false);
            ctx.Request.ContentLength = body.Length == 0 && !HttpMethods.IsPost(ctx.Request.Method) ? null : body.Length;
            ForwarderError error;
            // The blocks it has to compute there: what routing weighs as queued, and what is not held there until it ends.
            int held = choice.MatchedBlocks;
            b.Begin(blocks.AsSpan(held));
            try
            {
                error = await _forwarder.SendAsync(ctx, b.Prefix, _client, _config, HttpTransformer.Default);
            }
            finally
            {
                b.End(blocks.AsSpan(held));
            }
            if (error == ForwarderError.None) return;
            var failure = ctx.Features.Get<IForwarderErrorFeature>()?.Exception;
            _metrics.Errors.WithLabels(b.Label).Inc();
            lastError = $"{b.Label}: {error}{(failure is null ? "" : ": " + failure.Message)}";
            // The client went away, or the answer had begun (a backend that died mid-stream): nothing to resend.
            if (ctx.RequestAborted.IsCancellationRequested || ctx.Response.HasStarted || error is ForwarderError.RequestCanceled or ForwarderError.RequestBodyClient)
            {
                _log.LogWarning("request {Path} to {Backend} failed: {Error}", path, b.Label, lastError);
                return;
            }
            if (error is ForwarderError.Request or ForwarderError.ResponseHeaders)
            {
                // Not reached, or it closed before answering: take it out and send the request to another.
                _monitor.MarkDown(b, failure?.Message ?? error.ToString());
                ctx.Response.Clear();
                ctx.Features.Set<IForwarderErrorFeature>(null);
                continue;
            }
            // A timeout or another failure after the backend took the request: resending could run it twice.
            await ErrorAsync(ctx, 502, $"The backend failed: {lastError}", "server_error", "backend_error");
            return;
        }
        _metrics.Unavailable.Inc();
        await ErrorAsync(ctx, 503, lastError is null ? "No backend is healthy." : $"No backend could take the request (last: {lastError}).",
            "unavailable_error", "no_backend");
    }

    /// <summary>The whole body, at most <see cref="RouterOptions.MaxBodyBytes"/> (413 past it): routing reads it, a retry resends it.</summary>
    private async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken cancel)
    {
        if (request.ContentLength > _o.MaxBodyBytes) throw new BadHttpRequestException("too large", 413);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = await request.Body.ReadAsync(chunk, cancel)) > 0)
        {
            if (buffer.Length + n > _o.MaxBodyBytes) throw new BadHttpRequestException("too large", 413);
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    private static async Task ErrorAsync(HttpContext ctx, int status, string message, string type, string code)
    {
        if (ctx.Response.HasStarted) return;
        ctx.Response.Clear();
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(ctx.Response.Body);
        w.WriteStartObject();
        w.WriteStartObject("error");
        w.WriteString("message", message);
        w.WriteString("type", type);
        w.WriteNull("param");
        w.WriteString("code", code);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
