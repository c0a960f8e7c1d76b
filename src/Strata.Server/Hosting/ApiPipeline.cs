using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Strata.Server.Api;
using Strata.Server.Metrics;

namespace Strata.Server.Hosting;

/// <summary>
/// Around every request: the API key, the loading gate (503 until the model is ready; /health and /metrics answer
/// anyway), errors as OpenAI error objects (never a stack trace: unexpected ones are logged here and answered with a
/// plain 500), one log line and the request counter.
/// </summary>
public sealed class ApiPipeline(RequestDelegate next, ModelHost host, ApiKeyCheck keys, ServerMetrics metrics, ILogger<ApiPipeline> log)
{
    public async Task InvokeAsync(HttpContext ctx)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            keys.Check(ctx);
            var path = ctx.Request.Path;
            if (!host.IsReady && !path.StartsWithSegments("/health") && !path.StartsWithSegments("/v1/health") && !path.StartsWithSegments("/metrics"))
                throw host.LoadError is { } error
                    ? new ApiException(503, $"The model failed to load: {error}", "unavailable_error", code: "model_load_failed")
                    : new ApiException(503, "Loading model", "unavailable_error", code: "model_loading");
            await next(ctx);
            if (ctx.Response.StatusCode == StatusCodes.Status405MethodNotAllowed && !ctx.Response.HasStarted)
                throw new ApiException(405, $"Method not allowed ({ctx.Request.Method} {path}).");
        }
        catch (ApiException e)
        {
            await Answer(ctx, e);
        }
        catch (Exception e) when (ctx.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
        {
            // The client went away: its sequence was cancelled with RequestAborted; nobody is left to answer.
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e)
        {
            await Answer(ctx, new ApiException(e.StatusCode, e.StatusCode == 413 ? "The request body is too large." : "The request could not be read."));
        }
        catch (Exception e)
        {
            log.LogError(e, "{Method} {Path} failed", ctx.Request.Method, ctx.Request.Path);
            await Answer(ctx, new ApiException(500, "The server had an error while processing your request.", "server_error"));
        }
        finally
        {
            string endpoint = (ctx.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "other";
            metrics.ApiRequests.Add(1, new KeyValuePair<string, object?>("endpoint", endpoint), new KeyValuePair<string, object?>("status", ctx.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            log.LogInformation("{Method} {Path} {Status} {Ms:F1} ms", ctx.Request.Method, ctx.Request.Path, ctx.Response.StatusCode, clock.Elapsed.TotalMilliseconds);
        }
    }

    private static async Task Answer(HttpContext ctx, ApiException e)
    {
        if (ctx.Response.HasStarted)
        {
            // A stream already sent its 200: the error goes as an event, and the stream ends.
            if (ctx.Response.ContentType?.StartsWith("text/event-stream", StringComparison.Ordinal) == true && !ctx.RequestAborted.IsCancellationRequested)
            {
                try { await new Sse(ctx).ErrorAsync(e); }
                catch (Exception) when (ctx.RequestAborted.IsCancellationRequested) { }
            }
            return;
        }
        ctx.Response.Clear();
        await ErrorWriter.WriteAsync(ctx, e);
    }
}
