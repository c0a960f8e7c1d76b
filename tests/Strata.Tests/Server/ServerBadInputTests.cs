using System.Text.Json;

namespace Strata.Tests.Server;

/// <summary>Each malformed request gets its status and OpenAI's error object, and the server then serves the next one.</summary>
[Collection("Server")]
public class ServerBadInputTests(ServerFixture f)
{
    private const string Chat = "/v1/chat/completions";
    private const string Ok = """[{"role":"user","content":"hi"}]""";

    public static TheoryData<string, string, int, string?, string?> Cases() => new()
    {
        // path, body, status, param, code
        { Chat, "{not json", 400, null, null },
        { Chat, "[1, 2]", 400, null, null },
        { Chat, """{"model":"strata-tiny"}""", 400, "messages", "missing_required_parameter" },
        { Chat, """{"messages":[]}""", 400, "messages", "empty_array" },
        { Chat, """{"messages":"hi"}""", 400, "messages", "invalid_type" },
        { Chat, """{"messages":[{"role":"wizard","content":"hi"}]}""", 400, "messages[0].role", "invalid_value" },
        { Chat, """{"messages":[{"role":"user","content":5}]}""", 400, "messages[0].content", "invalid_type" },
        { Chat, """{"messages":[{"role":"user"}]}""", 400, "messages[0].content", "missing_required_parameter" },
        { Chat, """{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}""", 400, "messages[0].content[0].type", "unsupported_content" },
        { Chat, $$"""{"messages":{{Ok}},"temperature":"hot"}""", 400, "temperature", "invalid_type" },
        { Chat, $$"""{"messages":{{Ok}},"temperature":5}""", 400, "temperature", "invalid_value" },
        { Chat, $$"""{"messages":{{Ok}},"top_p":1.5}""", 400, "top_p", "invalid_value" },
        { Chat, $$"""{"messages":{{Ok}},"presence_penalty":3}""", 400, "presence_penalty", "invalid_value" },
        { Chat, $$"""{"messages":{{Ok}},"n":3}""", 400, "n", "invalid_value" },
        { Chat, $$"""{"messages":{{Ok}},"n":1.5}""", 400, "n", "invalid_type" },
        { Chat, $$"""{"messages":{{Ok}},"logprobs":true,"top_logprobs":21}""", 400, "top_logprobs", "invalid_value" },
        { Chat, $$"""{"messages":{{Ok}},"top_logprobs":2}""", 400, "top_logprobs", null },
        { Chat, $$"""{"messages":{{Ok}},"max_tokens":0}""", 400, "max_tokens", "invalid_value" },
        { Chat, $$"""{"messages":{{Ok}},"max_tokens":100000}""", 400, "messages", "context_length_exceeded" },
        { Chat, $$"""{"messages":{{Ok}},"stop":7}""", 400, "stop", "invalid_type" },
        { Chat, $$"""{"messages":{{Ok}},"stream":"yes"}""", 400, "stream", "invalid_type" },
        { Chat, """{"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}""", 400, "stream_options", null },
        { Chat, """{"messages":[{"role":"user","content":"hi"}],"logit_bias":{"5":10}}""", 400, "logit_bias", "unsupported_parameter" },
        { Chat, $$"""{"messages":{{Ok}},"model":"gpt-4o"}""", 404, "model", "model_not_found" },
        { Chat, $$"""{"messages":{{Ok}},"model":7}""", 400, "model", "invalid_type" },
        { "/v1/completions", """{"prompt":[]}""", 400, "prompt", "empty_array" },
        { "/v1/completions", """{"prompt":[1, 99999]}""", 400, "prompt[1]", "invalid_value" },
        { "/v1/completions", """{"prompt":{"text":"x"}}""", 400, "prompt", "invalid_type" },
        { "/v1/completions", $$"""{"prompt":{{JsonSerializer.Serialize(Enumerable.Repeat(100, 300))}}}""", 400, "prompt", "context_length_exceeded" },
        { "/v1/completions", """{"prompt":"x","best_of":3}""", 400, "best_of", "unsupported_parameter" },
        { "/tokenize", """{"content":5}""", 400, "content", "invalid_type" },
        { "/detokenize", """{"tokens":["a"]}""", 400, "tokens[0]", "invalid_type" },
        { "/v1/nothing-here", "{}", 404, null, null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task RefusedWithItsErrorThenTheNextRequestIsServed(string path, string body, int status, string? param, string? code)
    {
        var (got, error, _) = await f.Post(path, body);
        Assert.Equal(status, got);
        var e = error.GetProperty("error");
        Assert.False(string.IsNullOrEmpty(e.GetProperty("message").GetString()));
        Assert.Equal("invalid_request_error", e.GetProperty("type").GetString());
        Assert.Equal(param, e.GetProperty("param").GetString());
        if (code is not null) Assert.Equal(code, e.GetProperty("code").GetString());
        Assert.DoesNotContain("   at ", e.GetProperty("message").GetString()); // no stack trace
        var (next, _, _) = await f.Post(Chat, $$"""{"messages":{{Ok}},"max_tokens":1}""");
        Assert.Equal(200, next);
    }

    [Fact]
    public async Task ContextErrorsGiveTheTokenCounts()
    {
        var (_, error, _) = await f.Post(Chat, $$"""{"messages":{{Ok}},"max_tokens":1000}""");
        string message = error.GetProperty("error").GetProperty("message").GetString()!;
        Assert.Contains($"maximum context length is {ServerFixture.Context} tokens", message);
        Assert.Contains("1000 in the completion", message);
    }

    [Fact]
    public async Task BodiesOverTheLimitAre413()
    {
        string huge = new('a', 9 << 20);
        // Expect: 100-continue lets the server refuse by the Content-Length before the body is sent.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/tokenize") { Content = ServerFixture.Json($$"""{"content":"{{huge}}"}""") };
        request.Headers.ExpectContinue = true;
        using var response = await f.Http.SendAsync(request);
        Assert.Equal(413, (int)response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("request_too_large", error.GetProperty("error").GetProperty("code").GetString());
        var (next, _, _) = await f.Post("/tokenize", """{"content":"hi"}""");
        Assert.Equal(200, next);
    }
}
