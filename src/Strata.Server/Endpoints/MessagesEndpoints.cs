using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Strata.Chat.Output;
using Strata.Chat.Tools;
using Strata.Engine;
using Strata.Engine.Serving;
using Strata.Server.Api;
using Strata.Server.Api.Anthropic;
using Strata.Server.Hosting;
using Strata.Server.Metrics;

namespace Strata.Server.Endpoints;

/// <summary>
/// POST /v1/messages in Anthropic's shape (content blocks, tool use, stop reasons, usage with cache reads; streamed
/// as Anthropic's events) and POST /v1/messages/count_tokens. Errors come in Anthropic's shape (see ErrorWriter).
/// </summary>
public static class MessagesEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/messages", Handle);
        app.MapPost("/v1/messages/count_tokens", CountTokens);
    }

    private const string Base62 = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    private static async Task Handle(HttpContext ctx)
    {
        var host = ctx.RequestServices.GetRequiredService<ModelHost>();
        var metrics = ctx.RequestServices.GetRequiredService<ServerMetrics>();
        using var body = await JsonBody.ReadAsync(ctx.Request);
        host.CheckModel(body.String("model"));
        var request = MessagesRequestReader.Read(body, host, ApiKeyCheck.FairnessKey(ctx), countOnly: false);
        // Mistral's templates need their own call ids; elsewhere Anthropic's "toolu_" style.
        Func<string>? ids = host.ChatFormat.Tools == ToolCallFormat.Mistral ? null : () => "toolu_" + RandomNumberGenerator.GetString(Base62, 24);
        var turn = ChatTurn.Prepare(host, request.Conversation, request.Fields, "messages", ids);
        var events = EngineRun.Start(host, metrics, [turn.ToRequest()], ctx.RequestAborted);
        string id = "msg_" + RandomNumberGenerator.GetString(Base62, 24);
        if (request.Fields.Stream) await StreamAsync(ctx, host, id, turn, request.Thinking, events);
        else await WholeAsync(ctx, host, id, turn, request.Thinking, events);
    }

    private static async Task CountTokens(HttpContext ctx)
    {
        var host = ctx.RequestServices.GetRequiredService<ModelHost>();
        using var body = await JsonBody.ReadAsync(ctx.Request);
        host.CheckModel(body.String("model"));
        var request = MessagesRequestReader.Read(body, host, ApiKeyCheck.FairnessKey(ctx), countOnly: true);
        var turn = ChatTurn.Prepare(host, request.Conversation, request.Fields, "messages");
        await ResponseJson.WriteJsonAsync(ctx, w =>
        {
            w.WriteStartObject();
            w.WriteNumber("input_tokens", turn.Prompt.Length);
            w.WriteEndObject();
        });
    }

    /// <summary>Anthropic's stop_reason: tool_use, end_turn, stop_sequence or max_tokens.</summary>
    private static string StopReason(ChatChoice c) => c.HasCalls ? "tool_use" : c.Reason switch
    {
        Engine.StopReason.EndOfGeneration => "end_turn",
        Engine.StopReason.StopString => "stop_sequence",
        _ => "max_tokens",
    };

    /// <summary>Anthropic counts cache reads apart from input_tokens (the tokens computed).</summary>
    private static void WriteUsage(Utf8JsonWriter w, Usage u)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("input_tokens", u.PromptTokens - u.CachedTokens);
        w.WriteNumber("cache_creation_input_tokens", 0);
        w.WriteNumber("cache_read_input_tokens", u.CachedTokens);
        w.WriteNumber("output_tokens", u.CompletionTokens);
        w.WriteEndObject();
    }

    private static void WriteToolUse(Utf8JsonWriter w, ChatToolCall call, bool withInput)
    {
        w.WriteStartObject();
        w.WriteString("type", "tool_use");
        w.WriteString("id", call.Id);
        w.WriteString("name", call.Name);
        w.WritePropertyName("input");
        if (withInput)
        {
            using var doc = JsonDocument.Parse(call.Arguments);
            doc.RootElement.WriteTo(w);
        }
        else
        {
            w.WriteStartObject();
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    private static async Task WholeAsync(HttpContext ctx, ModelHost host, string id, ChatTurn turn, bool thinking, IAsyncEnumerable<PromptEvent> events)
    {
        var (choices, usage) = await ChatChoice.CollectAsync(events, turn, 1);
        var c = choices[0];
        var o = c.Output;
        await ResponseJson.WriteJsonAsync(ctx, w =>
        {
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteString("type", "message");
            w.WriteString("role", "assistant");
            w.WriteString("model", host.Id);
            w.WriteStartArray("content");
            if (thinking && o.Reasoning is { } r)
            {
                w.WriteStartObject();
                w.WriteString("type", "thinking");
                w.WriteString("thinking", r);
                w.WriteString("signature", "");
                w.WriteEndObject();
            }
            if (o.HasContent || !c.HasCalls)
            {
                w.WriteStartObject();
                w.WriteString("type", "text");
                w.WriteString("text", o.Content);
                w.WriteEndObject();
            }
            foreach (var call in o.Calls) WriteToolUse(w, call, withInput: true);
            w.WriteEndArray();
            w.WriteString("stop_reason", StopReason(c));
            if (!c.HasCalls && c.StopString is { } stop) w.WriteString("stop_sequence", stop); else w.WriteNull("stop_sequence");
            WriteUsage(w, usage);
            w.WriteEndObject();
        });
    }

    /// <summary>
    /// Anthropic's events: message_start (the message with no content; input_tokens counts the whole prompt, as
    /// the cache split is known only at the end), ping, per block content_block_start / content_block_delta
    /// (text_delta, thinking_delta, input_json_delta) / content_block_stop, then message_delta with the stop reason
    /// and the final usage, and message_stop. A tool_use block is sent once its call is complete.
    /// </summary>
    private static async Task StreamAsync(HttpContext ctx, ModelHost host, string id, ChatTurn turn, bool thinking, IAsyncEnumerable<PromptEvent> events)
    {
        var sse = new Sse(ctx);
        sse.Begin();
        Task Event(string type, Action<Utf8JsonWriter> fields) => sse.WriteEventAsync(type, w =>
        {
            w.WriteStartObject();
            w.WriteString("type", type);
            fields(w);
            w.WriteEndObject();
        });

        await Event("message_start", w =>
        {
            w.WriteStartObject("message");
            w.WriteString("id", id);
            w.WriteString("type", "message");
            w.WriteString("role", "assistant");
            w.WriteString("model", host.Id);
            w.WriteStartArray("content");
            w.WriteEndArray();
            w.WriteNull("stop_reason");
            w.WriteNull("stop_sequence");
            w.WriteStartObject("usage");
            w.WriteNumber("input_tokens", turn.Prompt.Length);
            w.WriteNumber("cache_creation_input_tokens", 0);
            w.WriteNumber("cache_read_input_tokens", 0);
            w.WriteNumber("output_tokens", 0);
            w.WriteEndObject();
            w.WriteEndObject();
        });
        await Event("ping", _ => { });

        int index = -1;
        string? open = null; // the type of the block being streamed ("text", "thinking"), if any
        async Task Close()
        {
            if (open is null) return;
            int i = index;
            await Event("content_block_stop", w => w.WriteNumber("index", i));
            open = null;
        }
        async Task Delta(string block, string deltaType, string field, string text)
        {
            if (open != block)
            {
                await Close();
                index++;
                open = block;
                int start = index;
                await Event("content_block_start", w =>
                {
                    w.WriteNumber("index", start);
                    w.WriteStartObject("content_block");
                    w.WriteString("type", block);
                    w.WriteString(field, "");
                    if (block == "thinking") w.WriteString("signature", "");
                    w.WriteEndObject();
                });
            }
            int i = index;
            await Event("content_block_delta", w =>
            {
                w.WriteNumber("index", i);
                w.WriteStartObject("delta");
                w.WriteString("type", deltaType);
                w.WriteString(field, text);
                w.WriteEndObject();
            });
        }
        async Task Write(IReadOnlyList<ChatOutputEvent> output)
        {
            foreach (var e in output.ToArray())
            {
                switch (e)
                {
                    case ContentDelta d: await Delta("text", "text_delta", "text", d.Text); break;
                    case ReasoningDelta r when thinking: await Delta("thinking", "thinking_delta", "thinking", r.Text); break;
                    case ToolCallDelta t:
                        await Close();
                        int i = ++index;
                        await Event("content_block_start", w =>
                        {
                            w.WriteNumber("index", i);
                            w.WritePropertyName("content_block");
                            WriteToolUse(w, t.Call, withInput: false);
                        });
                        await Event("content_block_delta", w =>
                        {
                            w.WriteNumber("index", i);
                            w.WriteStartObject("delta");
                            w.WriteString("type", "input_json_delta");
                            w.WriteString("partial_json", t.Call.Arguments);
                            w.WriteEndObject();
                        });
                        await Event("content_block_stop", w => w.WriteNumber("index", i));
                        break;
                }
            }
        }

        var choice = new ChatChoice(turn);
        var usage = new Usage();
        await foreach (var (_, e) in events)
        {
            switch (e)
            {
                case TokenEvent t: await Write(choice.Push(t)); break;
                case FinishEvent f: await Write(choice.Finish(f)); break;
                case UsageEvent u: usage.Add(u); break;
                case ErrorEvent:
                    await sse.ErrorAsync(new ApiException(500, "The server had an error while processing your request.", "server_error"));
                    return;
            }
        }
        await Close();
        await Event("message_delta", w =>
        {
            w.WriteStartObject("delta");
            w.WriteString("stop_reason", StopReason(choice));
            if (!choice.HasCalls && choice.StopString is { } stop) w.WriteString("stop_sequence", stop); else w.WriteNull("stop_sequence");
            w.WriteEndObject();
            WriteUsage(w, usage);
        });
        await Event("message_stop", _ => { });
    }
}
