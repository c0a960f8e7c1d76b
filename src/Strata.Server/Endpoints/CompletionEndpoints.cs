using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Strata.Engine.Serving;
using Strata.Server.Api;
using Strata.Server.Hosting;
using Strata.Server.Metrics;

namespace Strata.Server.Endpoints;

/// <summary>POST /v1/completions: a prompt as text, as token ids, or a list of either; whole or streamed.</summary>
public static class CompletionEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/completions", Handle);
        app.MapPost("/completions", Handle); // llama.cpp's alias
    }

    private static async Task Handle(HttpContext ctx)
    {
        var host = ctx.RequestServices.GetRequiredService<ModelHost>();
        var metrics = ctx.RequestServices.GetRequiredService<ServerMetrics>();
        using var body = await JsonBody.ReadAsync(ctx.Request);
        host.CheckModel(body.String("model"));
        var prompts = Prompts(body, host);
        var g = GenerationFields.Parse(body, host, chat: false, ApiKeyCheck.FairnessKey(ctx));
        foreach (var p in prompts) GenerationFields.CheckLength(host, p.Length, g.MaxTokens, "prompt");
        var events = EngineRun.Start(host, metrics, prompts.Select(g.ToRequest).ToArray(), ctx.RequestAborted);
        var json = new ResponseJson(host, "cmpl-", "text_completion");
        int choices = prompts.Count * g.Choices;
        if (g.Stream) await StreamAsync(ctx, json, g, events);
        else await WholeAsync(ctx, json, g, choices, events);
    }

    /// <summary>"text", [1, 2, 3], ["text", ...] or [[1, 2], ...]: one prompt or several, each tokenized as llama.cpp's
    /// server does (BOS added as the model asks, special tokens written in the text parsed).</summary>
    private static List<int[]> Prompts(JsonBody b, ModelHost host)
    {
        if (b.Get("prompt") is not { } v) throw ApiException.Invalid("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
        var model = host.Model;
        return PromptInputs.Read(v, "prompt", host.Options.Limits.MaxPrompts, "prompts", model.Config.VocabSize, (t, _) => model.Tokenize(t.GetString()!));
    }

    private static async Task WholeAsync(HttpContext ctx, ResponseJson json, GenerationFields g, int count, IAsyncEnumerable<PromptEvent> events)
    {
        var (choices, usage) = await ChoiceResult.CollectAsync(events, count / g.Choices, g.Choices);
        await ResponseJson.WriteJsonAsync(ctx, w =>
        {
            w.WriteStartObject();
            json.WriteHeader(w);
            w.WriteStartArray("choices");
            for (int i = 0; i < choices.Length; i++)
            {
                w.WriteStartObject();
                w.WriteString("text", choices[i].Text.ToString());
                w.WriteNumber("index", i);
                WriteLogprobs(w, json, g, choices[i].Tokens);
                w.WriteString("finish_reason", ResponseJson.FinishReason(choices[i].Reason ?? Engine.StopReason.Cancelled));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            ResponseJson.WriteUsage(w, usage);
            w.WriteEndObject();
        });
    }

    /// <summary>The legacy completions shape: tokens, token_logprobs, top_logprobs (token → logprob), text_offset.</summary>
    private static void WriteLogprobs(Utf8JsonWriter w, ResponseJson json, GenerationFields g, List<TokenEvent> tokens, int offset = 0)
    {
        if (g.TopLogprobs < 0)
        {
            w.WriteNull("logprobs");
            return;
        }
        w.WriteStartObject("logprobs");
        w.WriteStartArray("tokens");
        foreach (var t in tokens) w.WriteStringValue(json.TokenText(t.Token));
        w.WriteEndArray();
        w.WriteStartArray("token_logprobs");
        foreach (var t in tokens) w.WriteNumberValue(t.Logprobs!.Logprob);
        w.WriteEndArray();
        w.WriteStartArray("top_logprobs");
        foreach (var t in tokens)
        {
            w.WriteStartObject();
            foreach (var (id, lp) in t.Logprobs!.Top) w.WriteNumber(json.TokenText(id), lp);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("text_offset");
        foreach (var t in tokens)
        {
            w.WriteNumberValue(offset);
            offset += json.TokenText(t.Token).Length;
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static async Task StreamAsync(HttpContext ctx, ResponseJson json, GenerationFields g, IAsyncEnumerable<PromptEvent> events)
    {
        var sse = new Sse(ctx);
        sse.Begin();
        var offsets = new Dictionary<int, int>();
        void Chunk(Utf8JsonWriter w, int index, string text, TokenEvent? lp, string? finish)
        {
            w.WriteStartObject();
            json.WriteHeader(w);
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteString("text", text);
            w.WriteNumber("index", index);
            if (lp is not null)
            {
                offsets.TryGetValue(index, out int offset);
                WriteLogprobs(w, json, g, [lp], offset);
                offsets[index] = offset + json.TokenText(lp.Token).Length;
            }
            else w.WriteNull("logprobs");
            if (finish is null) w.WriteNull("finish_reason"); else w.WriteString("finish_reason", finish);
            w.WriteEndObject();
            w.WriteEndArray();
            if (g.IncludeUsage) w.WriteNull("usage");
            w.WriteEndObject();
        }

        var usage = new Usage();
        await foreach (var (p, e) in events)
        {
            switch (e)
            {
                case TokenEvent t when t.Text.Length > 0 || t.Logprobs is not null:
                    await sse.WriteAsync(w => Chunk(w, p * g.Choices + t.Choice, t.Text, t.Logprobs is null ? null : t, null));
                    break;
                case FinishEvent f:
                    await sse.WriteAsync(w => Chunk(w, p * g.Choices + f.Choice, f.Text, null, ResponseJson.FinishReason(f.Reason)));
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
                json.WriteHeader(w);
                w.WriteStartArray("choices");
                w.WriteEndArray();
                ResponseJson.WriteUsage(w, usage);
                w.WriteEndObject();
            });
        await sse.DoneAsync();
    }
}
