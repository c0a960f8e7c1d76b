using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Strata.Chat.Output;
using Strata.Chat.Tools;
using Strata.Engine.Serving;
using Strata.Server.Api;
using Strata.Server.Hosting;
using Strata.Server.Metrics;

namespace Strata.Server.Endpoints;

/// <summary>POST /v1/chat/completions, whole or streamed, shaped as OpenAI's: content, reasoning_content and tool_calls.</summary>
public static class ChatEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/chat/completions", Handle);
        app.MapPost("/chat/completions", Handle); // llama.cpp's alias
    }

    private static async Task Handle(HttpContext ctx)
    {
        var host = ctx.RequestServices.GetRequiredService<ModelHost>();
        var metrics = ctx.RequestServices.GetRequiredService<ServerMetrics>();
        using var body = await JsonBody.ReadAsync(ctx.Request);
        host.CheckModel(body.String("model"));
        var conversation = ChatRequestReader.Read(body, host.Options.Limits.MaxMessages, host.Options.Limits.MaxTools);
        var g = GenerationFields.Parse(body, host, chat: true, ApiKeyCheck.FairnessKey(ctx));
        var turn = ChatTurn.Prepare(host, conversation, g, "messages");
        var events = EngineRun.Start(host, metrics, [turn.ToRequest()], ctx.RequestAborted);
        var json = new ResponseJson(host, "chatcmpl-", "chat.completion");
        if (g.Stream) await StreamAsync(ctx, json, turn, events);
        else await WholeAsync(ctx, json, turn, events);
    }

    /// <summary>"tool_calls" when the answer is calls; otherwise "stop" or "length".</summary>
    private static string Finish(ChatChoice c) => c.HasCalls ? "tool_calls" : ResponseJson.FinishReason(c.Reason ?? Engine.StopReason.Cancelled);

    private static async Task WholeAsync(HttpContext ctx, ResponseJson json, ChatTurn turn, IAsyncEnumerable<PromptEvent> events)
    {
        var g = turn.Fields;
        var (choices, usage) = await ChatChoice.CollectAsync(events, turn, g.Choices);
        await ResponseJson.WriteJsonAsync(ctx, w =>
        {
            w.WriteStartObject();
            json.WriteHeader(w);
            w.WriteStartArray("choices");
            for (int i = 0; i < choices.Length; i++)
            {
                var c = choices[i];
                var o = c.Output;
                w.WriteStartObject();
                w.WriteNumber("index", i);
                w.WriteStartObject("message");
                w.WriteString("role", "assistant");
                // OpenAI's content is null beside calls when there is no text.
                if (c.HasCalls && !o.HasContent) w.WriteNull("content"); else w.WriteString("content", o.Content);
                if (o.Reasoning is { } reasoning) w.WriteString("reasoning_content", reasoning);
                if (c.HasCalls)
                {
                    w.WriteStartArray("tool_calls");
                    foreach (var call in o.Calls) WriteCall(w, call);
                    w.WriteEndArray();
                }
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
                w.WriteString("finish_reason", Finish(c));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            ResponseJson.WriteUsage(w, usage);
            w.WriteEndObject();
        });
    }

    private static void WriteCall(Utf8JsonWriter w, ChatToolCall call)
    {
        w.WriteStartObject();
        w.WriteString("id", call.Id);
        w.WriteString("type", "function");
        w.WriteStartObject("function");
        w.WriteString("name", call.Name);
        w.WriteString("arguments", call.Arguments);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>
    /// OpenAI's chunks: each choice's first delta carries the role, then content (and reasoning_content) deltas; a call
    /// comes as a delta with its index, id, type, function name and empty arguments, then its arguments; last an empty
    /// delta with the finish_reason. With include_usage every chunk has "usage": null and a last chunk with no choices
    /// carries it. A call is sent once it is complete and parses (so a truncated or malformed one can still become
    /// plain content), its arguments then in one fragment.
    /// </summary>
    private static async Task StreamAsync(HttpContext ctx, ResponseJson json, ChatTurn turn, IAsyncEnumerable<PromptEvent> events)
    {
        var g = turn.Fields;
        var sse = new Sse(ctx);
        sse.Begin();
        Task Chunk(int index, Action<Utf8JsonWriter> delta, TokenEvent? lp = null, string? finish = null) => sse.WriteAsync(w =>
        {
            w.WriteStartObject();
            json.WriteHeader(w, "chat.completion.chunk");
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", index);
            w.WriteStartObject("delta");
            delta(w);
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
        });

        // Writes a parser's events as deltas; the token's logprobs go with the first chunk (or an empty delta).
        async Task Deltas(int index, IReadOnlyList<ChatOutputEvent> output, TokenEvent? lp)
        {
            foreach (var e in output.ToArray())
            {
                switch (e)
                {
                    case ContentDelta d:
                        await Chunk(index, w => w.WriteString("content", d.Text), lp);
                        break;
                    case ReasoningDelta r:
                        await Chunk(index, w => w.WriteString("reasoning_content", r.Text), lp);
                        break;
                    case ToolCallDelta t:
                        await Chunk(index, w => ToolCallDeltaJson(w, t, head: true), lp);
                        lp = null;
                        await Chunk(index, w => ToolCallDeltaJson(w, t, head: false));
                        break;
                }
                lp = null;
            }
            if (lp is not null) await Chunk(index, _ => { }, lp);
        }

        var choices = Enumerable.Range(0, g.Choices).Select(_ => new ChatChoice(turn)).ToArray();
        for (int c = 0; c < g.Choices; c++)
            await Chunk(c, w =>
            {
                w.WriteString("role", "assistant");
                w.WriteString("content", "");
                w.WriteNull("refusal");
            });
        var usage = new Usage();
        await foreach (var (_, e) in events)
        {
            switch (e)
            {
                case TokenEvent t:
                    await Deltas(t.Choice, choices[t.Choice].Push(t), t.Logprobs is null ? null : t);
                    break;
                case FinishEvent f:
                    var choice = choices[f.Choice];
                    await Deltas(f.Choice, choice.Finish(f), null);
                    await Chunk(f.Choice, _ => { }, finish: Finish(choice));
                    break;
                case UsageEvent u:
                    usage.Add(u);
                    break;
                case ErrorEvent:
                    await sse.ErrorAsync(new ApiException(500, "The server had an error while processing your request.", "server_error"));
                    return;
            }
        }
        foreach (var c in choices) usage.AddReasoning(c.ReasoningTokens);
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

    /// <summary>A call's first delta (index, id, type, name, arguments "") or its arguments fragment (index, arguments).</summary>
    private static void ToolCallDeltaJson(Utf8JsonWriter w, ToolCallDelta t, bool head)
    {
        w.WriteStartArray("tool_calls");
        w.WriteStartObject();
        w.WriteNumber("index", t.Index);
        if (head)
        {
            w.WriteString("id", t.Call.Id);
            w.WriteString("type", "function");
        }
        w.WriteStartObject("function");
        if (head) w.WriteString("name", t.Call.Name);
        w.WriteString("arguments", head ? "" : t.Call.Arguments);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndArray();
    }
}
