using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Strata.Engine;
using Strata.Chat;
using Strata.Engine.Serving;
using Strata.Server.Api;
using Strata.Server.Api.Responses;
using Strata.Server.Hosting;
using Strata.Server.Metrics;

namespace Strata.Server.Endpoints;

/// <summary>
/// POST /v1/responses, OpenAI's Responses API, stateless (every response is as with store: false): the response
/// object with its output items (message, function_call, reasoning), status and usage; streamed as the Responses
/// events with sequence numbers, ending with response.completed (or response.incomplete when a token limit cut it).
/// </summary>
public static class ResponsesEndpoints
{
    public static void Map(IEndpointRouteBuilder app) => app.MapPost("/v1/responses", Handle);

    private static async Task Handle(HttpContext ctx)
    {
        var host = ctx.RequestServices.GetRequiredService<ModelHost>();
        var metrics = ctx.RequestServices.GetRequiredService<ServerMetrics>();
        using var body = await JsonBody.ReadAsync(ctx.Request);
        host.CheckModel(body.String("model"));
        var request = ResponsesRequestReader.Read(body, host, ApiKeyCheck.FairnessKey(ctx));
        var turn = ChatTurn.Prepare(host, request.Conversation, request.Fields, "input");
        var events = EngineRun.Start(host, metrics, [turn.ToRequest()], ctx.RequestAborted);
        var response = new ResponseObject(host, request);
        if (request.Fields.Stream) await StreamAsync(ctx, response, turn, events);
        else await WholeAsync(ctx, response, turn, events);
    }

    private static async Task WholeAsync(HttpContext ctx, ResponseObject response, ChatTurn turn, IAsyncEnumerable<PromptEvent> events)
    {
        var items = new ResponseItems(null);
        var choice = new ChatChoice(turn);
        var usage = new Usage();
        await foreach (var (_, e) in events)
        {
            switch (e)
            {
                case TokenEvent t: await items.AddAsync(choice.Push(t)); break;
                case FinishEvent f: await items.AddAsync(choice.Finish(f)); break;
                case UsageEvent u: usage.Add(u); break;
                case ErrorEvent: throw new ApiException(500, "The server had an error while processing your request.", "server_error");
            }
        }
        usage.AddReasoning(choice.ReasoningTokens);
        bool incomplete = ResponseObject.Incomplete(choice);
        await items.FinishAsync(incomplete);
        await ResponseJson.WriteJsonAsync(ctx, w => response.Write(w, incomplete ? "incomplete" : "completed", items, usage));
    }

    private static async Task StreamAsync(HttpContext ctx, ResponseObject response, ChatTurn turn, IAsyncEnumerable<PromptEvent> events)
    {
        var sse = new Sse(ctx);
        sse.Begin();
        int sequence = 0;
        Task Event(string type, Action<Utf8JsonWriter> fields) => sse.WriteEventAsync(type, w =>
        {
            w.WriteStartObject();
            w.WriteString("type", type);
            w.WriteNumber("sequence_number", sequence++);
            fields(w);
            w.WriteEndObject();
        });
        var items = new ResponseItems(Event);
        await Event("response.created", w => { w.WritePropertyName("response"); response.Write(w, "in_progress", null, null); });
        await Event("response.in_progress", w => { w.WritePropertyName("response"); response.Write(w, "in_progress", null, null); });
        var choice = new ChatChoice(turn);
        var usage = new Usage();
        await foreach (var (_, e) in events)
        {
            switch (e)
            {
                case TokenEvent t: await items.AddAsync(choice.Push(t)); break;
                case FinishEvent f: await items.AddAsync(choice.Finish(f)); break;
                case UsageEvent u: usage.Add(u); break;
                case ErrorEvent:
                    // The error event's own fields, with its place in the sequence.
                    var error = new ApiException(500, "The server had an error while processing your request.", "server_error");
                    await sse.WriteEventAsync("error", w =>
                    {
                        w.WriteStartObject();
                        Sse.ResponsesError(w, error);
                        w.WriteNumber("sequence_number", sequence++);
                        w.WriteEndObject();
                    });
                    return;
            }
        }
        usage.AddReasoning(choice.ReasoningTokens);
        bool incomplete = ResponseObject.Incomplete(choice);
        await items.FinishAsync(incomplete);
        string status = incomplete ? "incomplete" : "completed";
        await Event("response." + status, w => { w.WritePropertyName("response"); response.Write(w, status, items, usage); });
    }
}

/// <summary>The response object: what the request asked, the status, the output items and the usage.</summary>
internal sealed class ResponseObject(ModelHost host, ResponsesRequest request)
{
    public string Id { get; } = ResponseItems.NewId("resp_");
    public long CreatedAt { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>Cut by max_output_tokens, a full context or the server's timeout (unless the output is calls).</summary>
    public static bool Incomplete(ChatChoice c) => !c.HasCalls && c.Reason is not (StopReason.EndOfGeneration or StopReason.StopString);

    public void Write(Utf8JsonWriter w, string status, ResponseItems? items, Usage? usage)
    {
        w.WriteStartObject();
        w.WriteString("id", Id);
        w.WriteString("object", "response");
        w.WriteNumber("created_at", CreatedAt);
        w.WriteString("status", status);
        w.WriteNull("error");
        if (status == "incomplete")
        {
            w.WriteStartObject("incomplete_details");
            w.WriteString("reason", "max_output_tokens");
            w.WriteEndObject();
        }
        else w.WriteNull("incomplete_details");
        if (request.Instructions is null) w.WriteNull("instructions"); else w.WriteString("instructions", request.Instructions);
        if (request.Fields.MaxTokens is { } max) w.WriteNumber("max_output_tokens", max); else w.WriteNull("max_output_tokens");
        w.WriteString("model", host.Id);
        if (items is null)
        {
            w.WriteStartArray("output");
            w.WriteEndArray();
        }
        else items.WriteOutput(w);
        w.WriteBoolean("parallel_tool_calls", request.Conversation.ParallelToolCalls);
        w.WriteNull("previous_response_id");
        w.WriteStartObject("reasoning");
        w.WriteNull("effort");
        w.WriteNull("summary");
        w.WriteEndObject();
        w.WriteBoolean("store", false);
        w.WriteNumber("temperature", request.Temperature);
        w.WriteStartObject("text");
        w.WriteStartObject("format");
        w.WriteString("type", "text");
        w.WriteEndObject();
        w.WriteEndObject();
        w.WritePropertyName("tool_choice");
        if (request.ToolChoice is { } choice) choice.WriteTo(w); else w.WriteStringValue("auto");
        w.WritePropertyName("tools");
        if (request.Tools is { } tools) tools.WriteTo(w);
        else
        {
            w.WriteStartArray();
            w.WriteEndArray();
        }
        w.WriteNumber("top_p", request.TopP);
        w.WriteString("truncation", "disabled");
        if (usage is null) w.WriteNull("usage");
        else
        {
            w.WriteStartObject("usage");
            w.WriteNumber("input_tokens", usage.PromptTokens);
            w.WriteStartObject("input_tokens_details");
            w.WriteNumber("cached_tokens", usage.CachedTokens);
            w.WriteEndObject();
            w.WriteNumber("output_tokens", usage.CompletionTokens);
            w.WriteStartObject("output_tokens_details");
            w.WriteNumber("reasoning_tokens", usage.ReasoningTokens);
            w.WriteEndObject();
            w.WriteNumber("total_tokens", usage.PromptTokens + usage.CompletionTokens);
            w.WriteEndObject();
        }
        if (request.User is null) w.WriteNull("user"); else w.WriteString("user", request.User);
        w.WritePropertyName("metadata");
        if (request.Metadata is { } m) m.WriteTo(w);
        else
        {
            w.WriteStartObject();
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }
}
