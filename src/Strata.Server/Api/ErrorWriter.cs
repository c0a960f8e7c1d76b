using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Strata.Server.Api;

/// <summary>
/// Writes errors in the shape of the API that was called: OpenAI's <c>{"error":{"message","type","param","code"}}</c>,
/// or on Anthropic's /v1/messages endpoints Anthropic's <c>{"type":"error","error":{"type","message"}}</c>.
/// </summary>
public static class ErrorWriter
{
    /// <summary>Requests to Anthropic's endpoints get Anthropic's error shapes.</summary>
    public static bool IsAnthropic(HttpContext ctx) => ctx.Request.Path.StartsWithSegments("/v1/messages");

    public static async Task WriteAsync(HttpContext ctx, ApiException e)
    {
        var response = ctx.Response;
        bool anthropic = IsAnthropic(ctx);
        // Anthropic answers "overloaded" with 529, which its clients retry.
        response.StatusCode = anthropic && e.Status == 503 ? 529 : e.Status;
        if (e.RetryAfter is { } after) response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        response.ContentType = "application/json";
        await response.Body.WriteAsync(anthropic ? AnthropicJson(e) : Json(e), ctx.RequestAborted);
    }

    public static byte[] Json(ApiException e) => Serialize(w => Write(w, e));

    public static byte[] AnthropicJson(ApiException e) => Serialize(w => WriteAnthropic(w, e));

    private static byte[] Serialize(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, ResponseJson.Writer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>The "error" property, for a stream's error event as well.</summary>
    public static void Write(Utf8JsonWriter w, ApiException e)
    {
        w.WriteStartObject("error");
        w.WriteString("message", e.Message);
        w.WriteString("type", e.Type);
        if (e.Param is null) w.WriteNull("param"); else w.WriteString("param", e.Param);
        if (e.Code is null) w.WriteNull("code"); else w.WriteString("code", e.Code);
        w.WriteEndObject();
    }

    /// <summary>Anthropic's error: "type": "error" and the error's type and message (the inside of an error event too).</summary>
    public static void WriteAnthropic(Utf8JsonWriter w, ApiException e)
    {
        w.WriteString("type", "error");
        w.WriteStartObject("error");
        w.WriteString("type", AnthropicType(e.Status));
        w.WriteString("message", e.Message);
        w.WriteEndObject();
    }

    /// <summary>Anthropic's error types by status.</summary>
    public static string AnthropicType(int status) => status switch
    {
        400 or 405 or 415 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 or 529 => "overloaded_error",
        _ => "api_error",
    };
}
