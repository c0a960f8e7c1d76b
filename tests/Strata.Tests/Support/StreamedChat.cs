using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Strata.Tests.Support;

/// <summary>What a streamed chat completion gave a client: the time to its first text, its text, and usage.</summary>
public sealed record Streamed(double TtftMs, string Text, int PromptTokens, int CachedTokens);

/// <summary>
/// A client of /v1/chat/completions as the remote-store tests and the kv-remote-ttft benchmark use it (linked into
/// bench/): greedy, streamed with usage, timed to the first text. Any departure from a well-formed stream — a status
/// other than 200, an error chunk, no [DONE] — throws, naming it.
/// </summary>
public static class StreamedChat
{
    public static JsonArray Messages(params (string Role, string Content)[] m) =>
        new(m.Select(x => (JsonNode)new JsonObject { ["role"] = x.Role, ["content"] = x.Content }).ToArray());

    public static async Task<Streamed> Chat(HttpClient http, JsonArray messages, int maxTokens)
    {
        var body = new JsonObject
        {
            ["messages"] = messages.DeepClone(),
            ["max_tokens"] = maxTokens,
            ["temperature"] = 0,
            ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
        };
        var clock = Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if ((int)response.StatusCode != 200)
            throw new InvalidOperationException($"status {(int)response.StatusCode}, expected 200: {await response.Content.ReadAsStringAsync()}");
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double ttft = -1;
        var text = new StringBuilder();
        int prompt = -1, cached = -1;
        bool done = false;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            string data = line[6..];
            if (data == "[DONE]") { done = true; break; }
            var chunk = JsonDocument.Parse(data).RootElement;
            if (chunk.TryGetProperty("error", out var error)) throw new InvalidOperationException("the stream sent an error: " + error);
            if (chunk.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0)
            {
                var choice = choices[0];
                bool content = choice.GetProperty("delta").TryGetProperty("content", out var c) && c.GetString() is { Length: > 0 };
                bool finished = choice.TryGetProperty("finish_reason", out var f) && f.ValueKind == JsonValueKind.String;
                // The first token is the first text, or the finish when the first token sampled ends the answer.
                if (ttft < 0 && (content || finished)) ttft = clock.Elapsed.TotalMilliseconds;
                if (content) text.Append(c.GetString());
            }
            if (chunk.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
            {
                prompt = usage.GetProperty("prompt_tokens").GetInt32();
                cached = usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
            }
        }
        if (!done) throw new InvalidOperationException("the stream ended without [DONE]");
        return new Streamed(ttft, text.ToString(), prompt, cached);
    }

    /// <summary>The start of <paramref name="all"/> that the server's tokenizer makes about <paramref name="tokens"/> tokens (within 2 %).</summary>
    public static async Task<string> Fit(HttpClient http, string all, int tokens)
    {
        string text = all[..Math.Min(all.Length, tokens * 4)];
        for (int i = 0; i < 4; i++)
        {
            using var r = await http.PostAsync("/tokenize", new StringContent(new JsonObject { ["content"] = text }.ToJsonString(), Encoding.UTF8, "application/json"));
            int n = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("tokens").GetArrayLength();
            if (Math.Abs(n - tokens) < tokens / 50) break;
            text = all[..Math.Min(all.Length, (int)(text.Length * (double)tokens / n))];
        }
        return text;
    }
}
