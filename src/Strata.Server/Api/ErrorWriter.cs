using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Strata.Server.Api;

/// <summary>Writes OpenAI's error object: <c>{"error":{"message","type","param","code"}}</c>.</summary>
public static class ErrorWriter
{
    public static async Task WriteAsync(HttpContext ctx, ApiException e)
    {
        var response = ctx.Response;
        response.StatusCode = e.Status;
        if (e.RetryAfter is { } after) response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        response.ContentType = "application/json";
        await response.Body.WriteAsync(Json(e), ctx.RequestAborted);
    }

    public static byte[] Json(ApiException e)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, ResponseJson.Writer))
        {
            w.WriteStartObject();
            Write(w, e);
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
}
