using System.Diagnostics;
using System.Text.Json;

namespace Strata.Tests.Server;

/// <summary>The wire itself: SSE framing, n, cached tokens, tokenize, metrics, cancellation and fairness.</summary>
[Collection("Server")]
public class ServerHttpTests(ServerFixture f)
{
    private const string Chat = "/v1/chat/completions";

    private static string Messages(string user) => $$"""[{"role":"user","content":{{JsonSerializer.Serialize(user)}}}]""";

    [Fact]
    public async Task HealthModelsTokenizeAndDetokenize()
    {
        var health = await f.Http.GetAsync("/health");
        Assert.Equal(200, (int)health.StatusCode);
        Assert.Equal("ok", JsonDocument.Parse(await health.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());
        var models = JsonDocument.Parse(await f.Http.GetStringAsync("/v1/models")).RootElement;
        Assert.Equal("list", models.GetProperty("object").GetString());
        Assert.Equal("strata-tiny", models.GetProperty("data")[0].GetProperty("id").GetString());
        Assert.Equal("model", models.GetProperty("data")[0].GetProperty("object").GetString());

        var (status, tok, _) = await f.Post("/tokenize", """{"content":"In the beginning"}""");
        Assert.Equal(200, status);
        int[] tokens = tok.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray();
        Assert.Equal(f.Model.Tokenize("In the beginning", addSpecial: false), tokens);
        var (_, withBos, _) = await f.Post("/tokenize", """{"content":"In the beginning","add_special":true}""");
        Assert.Equal(f.Model.Tokenizer.Vocabulary.Bos, withBos.GetProperty("tokens")[0].GetInt32());
        var (dstatus, detok, _) = await f.Post("/detokenize", JsonSerializer.Serialize(new { tokens }));
        Assert.Equal(200, dstatus);
        Assert.Equal("In the beginning", detok.GetProperty("content").GetString());
    }

    [Fact]
    public async Task IgnoreEosRunsPastTheEndOfTheAnswerToMaxTokens()
    {
        // A question the model answers and ends (bounded search: the default model ends its answers in tens of tokens).
        string? ended = null;
        foreach (string q in new[] { "Genesis 1:1", "Psalms 23:1", "John 3:16", "Exodus 20:3", "Amen.", "Hi", "Who made the world?", "Proverbs 3:5" })
        {
            var (_, plain, _) = await f.Post(Chat, $$$"""{"messages":{{{Messages(q)}}},"max_tokens":200,"temperature":0}""");
            if (plain.GetProperty("choices")[0].GetProperty("finish_reason").GetString() == "stop") { ended = q; break; }
        }
        Assert.NotNull(ended);
        var (status, forced, _) = await f.Post(Chat, $$$"""{"messages":{{{Messages(ended!)}}},"max_tokens":200,"temperature":0,"ignore_eos":true}""");
        Assert.Equal(200, status);
        Assert.Equal("length", forced.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(200, forced.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        var (bad, error, _) = await f.Post(Chat, $$$"""{"messages":{{{Messages("Hi")}}},"ignore_eos":"yes"}""");
        Assert.Equal(400, bad);
        Assert.Equal("ignore_eos", error.GetProperty("error").GetProperty("param").GetString());
    }

    /// <summary>Reads an SSE response as OpenAI frames it: "data: {json}" events separated by blank lines, [DONE] last.</summary>
    private async Task<List<string>> Events(string path, string body)
    {
        var response = await f.Http.PostAsync(path, ServerFixture.Json(body));
        Assert.Equal(200, (int)response.StatusCode);
        Assert.StartsWith("text/event-stream", response.Content.Headers.ContentType?.ToString());
        string raw = await response.Content.ReadAsStringAsync();
        Assert.EndsWith("\n\n", raw);
        var events = raw.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).ToList();
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.All(events, e => Assert.DoesNotContain('\n', e));
        Assert.Equal("data: [DONE]", events[^1]);
        return events.Take(events.Count - 1).Select(e => e["data: ".Length..]).ToList();
    }

    [Fact]
    public async Task ChatStreamIsFramedAsOpenAiFramesIt()
    {
        var events = await Events(Chat, $$$"""{"model":"strata-tiny","messages":{{{Messages("Psalms 23:1")}}},"max_tokens":5,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}""");
        var chunks = events.Select(e => JsonDocument.Parse(e).RootElement).ToList();
        string id = chunks[0].GetProperty("id").GetString()!;
        Assert.StartsWith("chatcmpl-", id);
        foreach (var c in chunks)
        {
            Assert.Equal(id, c.GetProperty("id").GetString());
            Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString());
            Assert.True(c.TryGetProperty("usage", out _)); // every chunk: "usage": null, the last one the usage
        }
        var first = chunks[0].GetProperty("choices")[0];
        Assert.Equal("assistant", first.GetProperty("delta").GetProperty("role").GetString());
        Assert.Equal(JsonValueKind.Null, chunks[0].GetProperty("usage").ValueKind);
        var last = chunks[^1];
        Assert.Equal(0, last.GetProperty("choices").GetArrayLength());
        Assert.Equal(5, last.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        var finish = chunks[^2].GetProperty("choices")[0];
        Assert.Equal("length", finish.GetProperty("finish_reason").GetString());
        Assert.Empty(finish.GetProperty("delta").EnumerateObject());
        Assert.All(chunks.Skip(1).Take(chunks.Count - 3), c => Assert.Equal(JsonValueKind.Null, c.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind));

        // Without include_usage there is no usage field at all.
        var plain = await Events(Chat, $$"""{"messages":{{Messages("Psalms 23:1")}},"max_tokens":3,"stream":true}""");
        Assert.All(plain, e => Assert.False(JsonDocument.Parse(e).RootElement.TryGetProperty("usage", out _)));
    }

    [Fact]
    public async Task CompletionStreamAndWholeAgree()
    {
        string body = """{"prompt":"And God said","max_tokens":8,"temperature":0""";
        var (status, whole, _) = await f.Post("/v1/completions", body + "}");
        Assert.Equal(200, status);
        Assert.StartsWith("cmpl-", whole.GetProperty("id").GetString());
        Assert.Equal("text_completion", whole.GetProperty("object").GetString());
        var events = await Events("/v1/completions", body + ""","stream":true}""");
        string text = string.Concat(events.Select(e => JsonDocument.Parse(e).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()));
        Assert.Equal(whole.GetProperty("choices")[0].GetProperty("text").GetString(), text);
    }

    [Fact]
    public async Task TwoChoicesAndAListOfPrompts()
    {
        var (status, r, _) = await f.Post(Chat, $$"""{"messages":{{Messages("Genesis 1:1")}},"max_tokens":6,"n":2,"temperature":1.5,"seed":7}""");
        Assert.Equal(200, status);
        var choices = r.GetProperty("choices");
        Assert.Equal(2, choices.GetArrayLength());
        Assert.Equal([0, 1], choices.EnumerateArray().Select(c => c.GetProperty("index").GetInt32()));
        Assert.True(r.GetProperty("usage").GetProperty("completion_tokens").GetInt32() <= 12);

        var tokens = f.Model.Tokenize("In the beginning");
        var (s2, c, _) = await f.Post("/v1/completions", $$"""{"prompt":["And God said",{{JsonSerializer.Serialize(tokens)}}],"max_tokens":4,"n":2,"temperature":0}""");
        Assert.Equal(200, s2);
        Assert.Equal(4, c.GetProperty("choices").GetArrayLength());
        Assert.Equal(f.Model.Tokenize("And God said").Length + tokens.Length, c.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task RepeatedLongPromptComesFromTheCache()
    {
        string prompt = string.Join(' ', Enumerable.Repeat("And the LORD spake unto Moses, saying,", 12));
        string body = $$"""{"prompt":{{JsonSerializer.Serialize(prompt)}},"max_tokens":2,"temperature":0}""";
        var (_, first, _) = await f.Post("/v1/completions", body);
        var (_, second, _) = await f.Post("/v1/completions", body);
        int promptTokens = second.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        Assert.True(promptTokens > 64, $"{promptTokens}");
        int cached = second.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        Assert.True(cached >= promptTokens - 2 * f.Model.KvCache.Layout.BlockTokens, $"{cached} of {promptTokens} cached");
        Assert.Equal(first.GetProperty("choices")[0].GetProperty("text").GetString(), second.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task DisconnectingMidStreamCancelsAndFreesBlocks()
    {
        // ignore_eos: a sampled end-of-text after the first tokens would finish the stream before the disconnect.
        using var cts = new CancellationTokenSource();
        var request = new HttpRequestMessage(HttpMethod.Post, Chat)
        {
            Content = ServerFixture.Json($$"""{"messages":{{Messages("Psalms 119:1")}},"max_tokens":200,"ignore_eos":true,"stream":true}"""),
        };
        var response = await f.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        var stream = await response.Content.ReadAsStreamAsync(cts.Token);
        using (var reader = new StreamReader(stream))
        {
            int events = 0;
            while (events < 3 && await reader.ReadLineAsync(cts.Token) is { } line)
                if (line.StartsWith("data: ", StringComparison.Ordinal)) events++;
            Assert.Equal(3, events);
            Assert.True(f.Server.Host.Engine.Load.Running > 0);
        }
        response.Dispose(); // closes the connection mid-stream
        Assert.True(await f.BlocksFreed(TimeSpan.FromSeconds(10)), $"load {f.Server.Host.Engine.Load}, free {f.Model.KvPool.FreeBlocks}/{f.Model.KvPool.Capacity}");
    }

    /// <summary>
    /// A flood of 8 requests from one user queued ahead of another user's one: with fair queuing the other user waits
    /// for at most one round of the flood (--parallel = 2 requests) plus the two already running, where FIFO would
    /// make it wait for all 8.
    /// </summary>
    [Fact]
    public async Task OneUsersFloodDoesNotStarveAnother()
    {
        var order = new List<string>();
        // The flood's requests are long and the other user's is short, so the order they finish in is the order they were
        // served in even when a loaded test runner reads the responses late.
        async Task Send(string user, int i)
        {
            int tokens = user == "a" ? 120 : 6;
            var (status, _, _) = await f.Post("/v1/completions", $$"""{"prompt":"In the beginning","max_tokens":{{tokens}},"temperature":0,"user":"{{user}}"}""");
            Assert.Equal(200, status);
            lock (order) order.Add($"{user}{i}");
        }
        var flood = Enumerable.Range(0, 8).Select(i => Send("a", i)).ToList();
        var until = Stopwatch.StartNew();
        while (f.Server.Host.Engine.Load.Waiting < 6 && until.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(5); // the flood is queued first
        var other = Send("b", 0);
        await Task.WhenAll(flood.Append(other));
        int before = order.IndexOf("b0");
        Assert.True(before <= 4, $"b finished after {before} of a's requests: {string.Join(' ', order)}");
    }

    [Fact]
    public async Task MetricsUseVllmNamesWithStrataPrefix()
    {
        await f.Post(Chat, $$"""{"messages":{{Messages("Psalms 23:1")}},"max_tokens":3}""");
        string text = await f.Http.GetStringAsync("/metrics");
        var types = text.Split('\n').Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal))
            .Select(l => l.Split(' ')).ToDictionary(p => p[2], p => p[3]);
        foreach (var h in new[] { "strata_time_to_first_token_seconds", "strata_inter_token_latency_seconds", "strata_time_per_output_token_seconds",
                     "strata_e2e_request_latency_seconds", "strata_request_queue_time_seconds" })
            Assert.Equal("histogram", types[h]);
        foreach (var c in new[] { "strata_prompt_tokens_total", "strata_generation_tokens_total", "strata_request_success_total",
                     "strata_prefix_cache_queries_total", "strata_prefix_cache_hits_total", "strata_kv_tier_hits_total", "strata_api_requests_total" })
            Assert.Equal("counter", types[c]);
        foreach (var g in new[] { "strata_num_requests_running", "strata_num_requests_waiting", "strata_kv_blocks", "strata_kv_bytes", "strata_kv_capacity_blocks", "strata_kv_cache_usage_perc" })
            Assert.Equal("gauge", types[g]);
        Assert.Matches(@"strata_request_success_total\{finished_reason=""length""\} \d+", text);
        Assert.Matches(@"strata_kv_blocks\{tier=""dram""\} \d+", text);
        Assert.Matches(@"strata_time_to_first_token_seconds_bucket\{le=""0.25""\} \d+", text);
        Assert.DoesNotContain("vllm", text);
    }
}
