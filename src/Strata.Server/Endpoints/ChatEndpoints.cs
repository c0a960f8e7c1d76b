using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Strata.Chat;
using Strata.Engine.Serving;
using Strata.Server.Api;
using Strata.Server.Hosting;
using Strata.Server.Metrics;

namespace Strata.Server.Endpoints;

/// <summary>POST /v1/chat/completions, whole or streamed, shaped as OpenAI's.</summary>
public static class ChatEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/chat/completions", Handle);
        app.MapPost("/chat/completions", Handle); // llama.cpp's alias
    }

    private static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant"];

    private static async Task Handle(HttpContext ctx)
    {
        var host = ctx.RequestServices.GetRequiredService<ModelHost>();
        var metrics = ctx.RequestServices.GetRequiredService<ServerMetrics>();
        using var body = await JsonBody.ReadAsync(ctx.Request);
        host.CheckModel(body.String("model"));
        var messages = Messages(body, host.Options.Limits.MaxMessages);
        var g = GenerationFields.Parse(body, host, chat: true, ApiKeyCheck.FairnessKey(ctx));
        int[] prompt;
        try
        {
            prompt = ChatPrompt.Tokens(host.Model, host.Template, messages);
        }
        catch (ChatTemplateException e)
        {
            throw ApiException.Invalid($"The model's chat template could not render these messages: {e.Message}", "messages");
        }
        GenerationFields.CheckLength(host, prompt.Length, g.MaxTokens, "messages");
        var events = EngineRun.Start(host, metrics, [g.ToRequest(prompt)], ctx.RequestAborted);
        var json = new ResponseJson(host, "chatcmpl-", "chat.completion");
        if (g.Stream) await StreamAsync(ctx, json, g, events);
        else await WholeAsync(ctx, json, g, events);
    }

    /// <summary>messages: 1 to the limit, each with a known role and string or text-part content.</summary>
    private static List<ChatMessage> Messages(JsonBody b, int max)
    {
        if (b.Get("messages") is not { } v) throw ApiException.Invalid("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
        if (v.ValueKind != JsonValueKind.Array) throw JsonBody.WrongType("messages", "an array", v);
        int count = v.GetArrayLength();
        if (count == 0) throw ApiException.Invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "messages", "empty_array");
        if (count > max) throw JsonBody.OutOfRange("messages", $"with at most {max} messages", $"{count}");
        var list = new List<ChatMessage>(count);
        int i = 0;
        foreach (var m in v.EnumerateArray())
        {
            string at = $"messages[{i}]";
            if (m.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType(at, "an object", m);
            if (JsonBody.Get(m, "role") is not { ValueKind: JsonValueKind.String } r)
                throw ApiException.Invalid($"Missing or invalid '{at}.role'.", $"{at}.role");
            string role = r.GetString()!;
            if (!Roles.Contains(role))
                throw ApiException.Invalid($"Invalid value: '{role}'. Supported values are: 'system', 'developer', 'user' and 'assistant'.", $"{at}.role", "invalid_value");
            if (JsonBody.Get(m, "tool_calls") is { ValueKind: JsonValueKind.Array } tc && tc.GetArrayLength() > 0)
                throw ApiException.Invalid("Tool calls are not supported by this server.", $"{at}.tool_calls", "unsupported_parameter");
            string content = Content(JsonBody.Get(m, "content"), $"{at}.content", allowNull: role == "assistant");
            // Chat templates know "system"; OpenAI's newer "developer" role means the same.
            list.Add(new ChatMessage(role == "developer" ? "system" : role, content));
            i++;
        }
        return list;
    }

    private static string Content(JsonElement? content, string param, bool allowNull)
    {
        if (content is not { } c)
        {
            if (allowNull) return "";
            throw ApiException.Invalid($"Missing required parameter: '{param}'.", param, "missing_required_parameter");
        }
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
        if (c.ValueKind != JsonValueKind.Array) throw JsonBody.WrongType(param, "a string or an array of content parts", c);
        var text = new System.Text.StringBuilder();
        int k = 0;
        foreach (var part in c.EnumerateArray())
        {
            string at = $"{param}[{k++}]";
            if (part.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType(at, "an object", part);
            string? type = JsonBody.Get(part, "type") is { ValueKind: JsonValueKind.String } t ? t.GetString() : null;
            if (type != "text")
                throw ApiException.Invalid($"Content parts of type '{type ?? "(none)"}' are not supported: this model reads text only.", $"{at}.type", "unsupported_content");
            if (JsonBody.Get(part, "text") is not { ValueKind: JsonValueKind.String } s) throw ApiException.Invalid($"Missing or invalid '{at}.text'.", $"{at}.text");
            text.Append(s.GetString());
        }
        return text.ToString();
    }

    private static async Task WholeAsync(HttpContext ctx, ResponseJson json, GenerationFields g, IAsyncEnumerable<PromptEvent> events)
    {
        var (choices, usage) = await ChoiceResult.CollectAsync(events, 1, g.Choices);
        await ResponseJson.WriteJsonAsync(ctx, w =>
        {
            w.WriteStartObject();
            json.WriteHeader(w);
            w.WriteStartArray("choices");
            for (int i = 0; i < choices.Length; i++)
            {
                var c = choices[i];
                w.WriteStartObject();
                w.WriteNumber("index", i);
                w.WriteStartObject("message");
                w.WriteString("role", "assistant");
                w.WriteString("content", c.Text.ToString());
                w.WriteNull("refusal");
                w.WriteEndObject();
                if (g.TopLogprobs >= 0)
                {
                    w.WriteStartObject("logprobs");
                    w.WriteStartArray("content");
                    foreach (var t in c.Tokens) json.WriteChatLogprob(w, t);
                    w.WriteEndArray();
                    w.WriteNull("refusal");
                    w.WriteEndObject();
                }
                else w.WriteNull("logprobs");
                w.WriteString("finish_reason", ResponseJson.FinishReason(c.Reason ?? Engine.StopReason.Cancelled));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            ResponseJson.WriteUsage(w, usage);
            w.WriteEndObject();
        });
    }

    /// <summary>
    /// OpenAI's chunks: each choice's first delta carries the role, then content deltas, then an empty delta with the
    /// finish_reason; with include_usage every chunk has "usage": null and a last chunk with no choices carries it.
    /// </summary>
    private static async Task StreamAsync(HttpContext ctx, ResponseJson json, GenerationFields g, IAsyncEnumerable<PromptEvent> events)
    {
        var sse = new Sse(ctx);
        sse.Begin();
        void Chunk(Utf8JsonWriter w, int index, bool role, string? content, TokenEvent? lp, string? finish)
        {
            w.WriteStartObject();
            json.WriteHeader(w, "chat.completion.chunk");
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", index);
            w.WriteStartObject("delta");
            if (role)
            {
                w.WriteString("role", "assistant");
                w.WriteString("content", "");
                w.WriteNull("refusal");
            }
            else if (content is not null) w.WriteString("content", content);
            w.WriteEndObject();
            if (lp is not null)
            {
                w.WriteStartObject("logprobs");
                w.WriteStartArray("content");
                json.WriteChatLogprob(w, lp);
                w.WriteEndArray();
                w.WriteNull("refusal");
                w.WriteEndObject();
            }
            else w.WriteNull("logprobs");
            if (finish is null) w.WriteNull("finish_reason"); else w.WriteString("finish_reason", finish);
            w.WriteEndObject();
            w.WriteEndArray();
            if (g.IncludeUsage) w.WriteNull("usage");
            w.WriteEndObject();
        }

        for (int c = 0; c < g.Choices; c++) await sse.WriteAsync(w => Chunk(w, c, true, null, null, null));
        var usage = new Usage();
        await foreach (var (_, e) in events)
        {
            switch (e)
            {
                case TokenEvent t when t.Text.Length > 0 || t.Logprobs is not null:
                    await sse.WriteAsync(w => Chunk(w, t.Choice, false, t.Text, t.Logprobs is null ? null : t, null));
                    break;
                case FinishEvent f:
                    if (f.Text.Length > 0) await sse.WriteAsync(w => Chunk(w, f.Choice, false, f.Text, null, null));
                    await sse.WriteAsync(w => Chunk(w, f.Choice, false, null, null, ResponseJson.FinishReason(f.Reason)));
                    break;
                case UsageEvent u:
                    usage.Add(u);
                    break;
                case ErrorEvent:
                    await sse.ErrorAsync(new ApiException(500, "The server had an error while processing your request.", "server_error"));
                    return;
            }
        }
        if (g.IncludeUsage)
            await sse.WriteAsync(w =>
            {
                w.WriteStartObject();
                json.WriteHeader(w, "chat.completion.chunk");
                w.WriteStartArray("choices");
                w.WriteEndArray();
                ResponseJson.WriteUsage(w, usage);
                w.WriteEndObject();
            });
        await sse.DoneAsync();
    }
}
