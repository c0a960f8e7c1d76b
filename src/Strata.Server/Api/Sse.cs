using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Strata.Server.Api;

/// <summary>
/// Server-sent events as OpenAI sends them ("data: {json}\n\n" per chunk, flushed at once, "data: [DONE]" last) and
/// as the Responses and Anthropic APIs do ("event: NAME\n" before each data line, no [DONE]).
/// </summary>
public sealed class Sse(HttpContext ctx)
{
    private static readonly byte[] Prefix = "data: "u8.ToArray();
    private static readonly byte[] EventPrefix = "event: "u8.ToArray();
    private static readonly byte[] End = "\n\n"u8.ToArray();
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);

    public void Begin()
    {
        var r = ctx.Response;
        r.StatusCode = 200;
        r.ContentType = "text/event-stream; charset=utf-8";
        r.Headers.CacheControl = "no-cache";
        r.Headers["X-Accel-Buffering"] = "no";
        ctx.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    public Task WriteAsync(Action<Utf8JsonWriter> chunk) => WriteEventAsync(null, chunk);

    /// <summary>One event: its name (when given) and its JSON data.</summary>
    public async Task WriteEventAsync(string? name, Action<Utf8JsonWriter> chunk)
    {
        _buffer.ResetWrittenCount();
        if (name is not null)
        {
            _buffer.Write(EventPrefix);
            _buffer.Write(System.Text.Encoding.UTF8.GetBytes(name));
            _buffer.Write("\n"u8);
        }
        _buffer.Write(Prefix);
        using (var w = new Utf8JsonWriter(_buffer, ResponseJson.Writer)) chunk(w);
        _buffer.Write(End);
        await ctx.Response.Body.WriteAsync(_buffer.WrittenMemory, ctx.RequestAborted);
        await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
    }

    public async Task DoneAsync()
    {
        await ctx.Response.Body.WriteAsync("data: [DONE]\n\n"u8.ToArray(), ctx.RequestAborted);
        await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
    }

    /// <summary>A failure after the stream began: an error event (the status line is already sent), in the API's shape.</summary>
    public Task ErrorAsync(ApiException e) => ErrorWriter.IsAnthropic(ctx)
        ? WriteEventAsync("error", w =>
        {
            w.WriteStartObject();
            ErrorWriter.WriteAnthropic(w, e);
            w.WriteEndObject();
        })
        : ctx.Request.Path.StartsWithSegments("/v1/responses")
            ? WriteEventAsync("error", w =>
            {
                w.WriteStartObject();
                ResponsesError(w, e);
                w.WriteEndObject();
            })
            : WriteAsync(w =>
            {
                w.WriteStartObject();
                ErrorWriter.Write(w, e);
                w.WriteEndObject();
            });

    /// <summary>The Responses API's error event fields: type "error", code, message, param.</summary>
    public static void ResponsesError(Utf8JsonWriter w, ApiException e)
    {
        w.WriteString("type", "error");
        w.WriteString("code", e.Code ?? e.Type);
        w.WriteString("message", e.Message);
        if (e.Param is null) w.WriteNull("param"); else w.WriteString("param", e.Param);
    }
}
