using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Strata.Server.Api;
using Strata.Server.Hosting;
using Strata.Server.Metrics;

namespace Strata.Server.Endpoints;

/// <summary>GET /health, GET /v1/models, GET /metrics.</summary>
public static class InfoEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/health", Health);
        app.MapGet("/v1/health", Health);
        app.MapGet("/v1/models", Models);
        app.MapGet("/models", Models);
        app.MapGet("/metrics", Metrics);
    }

    /// <summary>200 {"status":"ok"} once the model is loaded; 503 with an error object while it loads (or if it failed).</summary>
    private static async Task Health(HttpContext ctx)
    {
        var host = ctx.RequestServices.GetRequiredService<ModelHost>();
        if (!host.IsReady)
        {
            var e = host.LoadError is { } error
                ? new ApiException(503, $"The model failed to load: {error}", "unavailable_error", code: "model_load_failed")
                : new ApiException(503, "Loading model", "unavailable_error", code: "model_loading");
            await ErrorWriter.WriteAsync(ctx, e);
            return;
        }
        await ResponseJson.WriteJsonAsync(ctx, w =>
        {
            w.WriteStartObject();
            w.WriteString("status", "ok");
            w.WriteEndObject();
        });
    }

    private static Task Models(HttpContext ctx)
    {
        var host = ctx.RequestServices.GetRequiredService<ModelHost>();
        return ResponseJson.WriteJsonAsync(ctx, w =>
        {
            w.WriteStartObject();
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            w.WriteStartObject();
            w.WriteString("id", host.Id);
            w.WriteString("object", "model");
            w.WriteNumber("created", host.Created);
            w.WriteString("owned_by", "strata");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    private static async Task Metrics(HttpContext ctx)
    {
        var export = ctx.RequestServices.GetRequiredService<PrometheusExport>();
        ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await export.WriteAsync(ctx.Response.Body, ctx.RequestAborted);
    }
}
