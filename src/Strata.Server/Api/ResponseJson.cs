using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Strata.Engine;
using Strata.Engine.Serving;
using Strata.Server.Hosting;

namespace Strata.Server.Api;

/// <summary>The parts every completion response shares: id, object, created, model, system_fingerprint, usage.</summary>
public sealed class ResponseJson(ModelHost host, string idPrefix, string objectName)
{
    /// <summary>Text as OpenAI writes it: apostrophes and non-ASCII letters unescaped (this is JSON, not HTML).</summary>
    public static readonly JsonWriterOptions Writer = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public string Id { get; } = idPrefix + RandomNumberGenerator.GetHexString(24, lowercase: true);
    public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    public ModelHost Host => host;

    public void WriteHeader(Utf8JsonWriter w, string? objectOverride = null)
    {
        w.WriteString("id", Id);
        w.WriteString("object", objectOverride ?? objectName);
        w.WriteNumber("created", Created);
        w.WriteString("model", host.Id);
        w.WriteString("system_fingerprint", host.Fingerprint);
    }

    /// <summary>OpenAI's finish_reason: "stop" (end of generation or a stop string) or "length" (a token limit, a full
    /// context, or the server's per-request timeout, which clients' fixed enums have no other word for).</summary>
    public static string FinishReason(StopReason r) => r is StopReason.EndOfGeneration or StopReason.StopString ? "stop" : "length";

    public static void WriteUsage(Utf8JsonWriter w, Usage u)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", u.PromptTokens);
        w.WriteNumber("completion_tokens", u.CompletionTokens);
        w.WriteNumber("total_tokens", u.PromptTokens + u.CompletionTokens);
        w.WriteStartObject("prompt_tokens_details");
        w.WriteNumber("cached_tokens", u.CachedTokens);
        w.WriteEndObject();
        w.WriteStartObject("completion_tokens_details");
        w.WriteNumber("reasoning_tokens", u.ReasoningTokens);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>One entry of chat's <c>logprobs.content</c>: token, logprob, bytes, top_logprobs.</summary>
    public void WriteChatLogprob(Utf8JsonWriter w, TokenEvent t)
    {
        w.WriteStartObject();
        WriteTokenFields(w, t.Token, t.Logprobs!.Logprob);
        w.WriteStartArray("top_logprobs");
        foreach (var (token, lp) in t.Logprobs.Top)
        {
            w.WriteStartObject();
            WriteTokenFields(w, token, lp);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private void WriteTokenFields(Utf8JsonWriter w, int token, float logprob)
    {
        byte[] bytes = host.Model.Tokenizer.TokenBytes(token);
        w.WriteString("token", Encoding.UTF8.GetString(bytes));
        w.WriteNumber("logprob", float.IsFinite(logprob) ? logprob : -9999f);
        w.WriteStartArray("bytes");
        foreach (byte b in bytes) w.WriteNumberValue(b);
        w.WriteEndArray();
    }

    public string TokenText(int token) => Encoding.UTF8.GetString(host.Model.Tokenizer.TokenBytes(token));

    public static async Task WriteJsonAsync(HttpContext ctx, Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer, ResponseJson.Writer)) body(w);
        ctx.Response.ContentType = "application/json";
        await ctx.Response.Body.WriteAsync(buffer.WrittenMemory, ctx.RequestAborted);
    }
}

/// <summary>Token counts of a response, summed over its prompts.</summary>
public sealed class Usage
{
    public int PromptTokens { get; private set; }
    public int CachedTokens { get; private set; }
    public int CompletionTokens { get; private set; }
    /// <summary>Of the completion tokens, those the model spent thinking (counted by the output parser).</summary>
    public int ReasoningTokens { get; private set; }

    public void AddReasoning(int tokens) => ReasoningTokens += tokens;

    public void Add(UsageEvent u)
    {
        PromptTokens += u.PromptTokens;
        CachedTokens += u.CachedTokens;
        CompletionTokens += u.CompletionTokens;
    }
}

/// <summary>What one choice has produced so far, for a response written at the end.</summary>
public sealed class ChoiceResult
{
    public StringBuilder Text { get; } = new();
    public List<TokenEvent> Tokens { get; } = new();
    public StopReason? Reason { get; set; }

    /// <summary>
    /// Gathers a non-streamed response: every prompt's choices (prompt p's choice c is result p·choicesPerPrompt + c),
    /// their text, logprob tokens and finish reasons, and the summed usage. An engine error is a 500.
    /// </summary>
    public static async Task<(ChoiceResult[] Choices, Usage Usage)> CollectAsync(IAsyncEnumerable<PromptEvent> events, int prompts, int choicesPerPrompt)
    {
        var choices = Enumerable.Range(0, prompts * choicesPerPrompt).Select(_ => new ChoiceResult()).ToArray();
        var usage = new Usage();
        await foreach (var (p, e) in events)
        {
            switch (e)
            {
                case TokenEvent t:
                    var c = choices[p * choicesPerPrompt + t.Choice];
                    c.Text.Append(t.Text);
                    if (t.Logprobs is not null) c.Tokens.Add(t);
                    break;
                case FinishEvent f:
                    choices[p * choicesPerPrompt + f.Choice].Text.Append(f.Text);
                    choices[p * choicesPerPrompt + f.Choice].Reason = f.Reason;
                    break;
                case UsageEvent u:
                    usage.Add(u);
                    break;
                case ErrorEvent:
                    throw new ApiException(500, "The server had an error while processing your request.", "server_error");
            }
        }
        return (choices, usage);
    }
}
