using System.Text.Json;
using Anthropic;
using Anthropic.Core;
using Anthropic.Helpers;
using Anthropic.Models.Messages;
using Strata.Server.Hosting;
using Strata.Tests.Support;

namespace Strata.Tests.Server;

/// <summary>
/// Anthropic's /v1/messages against the real server on the script model, driven by the official Anthropic .NET SDK
/// (messages, streaming, a tool-use round trip, count_tokens) and by raw HTTP for the exact events and error shapes.
/// </summary>
[Collection("ToolServer")]
public class ServerMessagesTests(ToolServerFixture f)
{
    private const string ToolsJson = """[{"name":"get_weather","description":"Weather for a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]""";

    private AnthropicClient Client(string key = "unused") => new(new ClientOptions
    {
        BaseUrl = f.BaseAddress.ToString().TrimEnd('/'),
        ApiKey = key,
        MaxRetries = 0,
        Timeout = TimeSpan.FromSeconds(60),
    });

    private static Tool Weather() => new()
    {
        Name = "get_weather",
        Description = "Weather for a city",
        InputSchema = new InputSchema
        {
            Properties = new Dictionary<string, JsonElement> { ["city"] = JsonDocument.Parse("""{"type":"string"}""").RootElement },
            Required = ["city"],
        },
    };

    private static MessageCreateParams Ask(params MessageParam[] messages) => new()
    {
        Model = "script",
        MaxTokens = 64,
        Messages = messages.Length > 0 ? messages : [new UserMessageParam("Weather in Paris?")],
        Tools = [Weather()],
    };

    [Fact]
    public async Task ToolUseRoundTripWithTheAnthropicSdk()
    {
        var client = Client();
        Message first = await client.Messages.Create(Ask());
        Assert.StartsWith("msg_", first.ID);
        Assert.Equal("script", first.Model.Raw());
        Assert.Equal(StopReason.ToolUse, first.StopReason!.Value());
        Assert.True(Assert.Single(first.Content).TryPickToolUse(out var use));
        Assert.StartsWith("toolu_", use!.ID);
        Assert.Equal("get_weather", use.Name);
        Assert.Equal("Paris", use.Input["city"].GetString());
        Assert.True(first.Usage.InputTokens > 0);
        Assert.Equal(5, first.Usage.OutputTokens);

        // The call and its result go back as blocks; the model answers.
        var history = new MessageParam[]
        {
            new UserMessageParam("Weather in Paris?"),
            new AssistantMessageParam(new List<ContentBlockParam> { new ToolUseBlockParam { ID = use.ID, Name = use.Name, Input = use.Input } }),
            new UserMessageParam(new List<ContentBlockParam> { new ToolResultBlockParam(use.ID) { Content = "sunny, 21 C" } }),
        };
        Message second = await client.Messages.Create(Ask(history));
        Assert.Equal(StopReason.EndTurn, second.StopReason!.Value());
        Assert.True(Assert.Single(second.Content).TryPickText(out var text));
        Assert.Equal(ToolServerFixture.Answer, text!.Text);
        Assert.Null(second.StopSequence);
        // The shared prefix of the two prompts came from the KV cache; Anthropic counts it apart from input_tokens.
        Assert.True(second.Usage.CacheReadInputTokens > 0);

        // count_tokens counts the same prompt: computed plus cached.
        var count = await client.Messages.CountTokens(new MessageCountTokensParams { Model = "script", Messages = history, Tools = [Weather()] });
        Assert.Equal(second.Usage.InputTokens + second.Usage.CacheReadInputTokens, count.InputTokens);
    }

    [Fact]
    public async Task StreamingGivesTheSameMessageAsWhole()
    {
        var client = Client();
        foreach (var ask in new[]
        {
            Ask(),
            Ask(new UserMessageParam("Weather in Paris?"),
                new AssistantMessageParam(new List<ContentBlockParam> { new ToolUseBlockParam { ID = "toolu_1", Name = "get_weather", Input = new Dictionary<string, JsonElement> { ["city"] = JsonDocument.Parse("\"Paris\"").RootElement } } }),
                new UserMessageParam(new List<ContentBlockParam> { new ToolResultBlockParam("toolu_1") { Content = "sunny" } })),
        })
        {
            Message whole = await client.Messages.Create(ask);
            var aggregator = new MessageContentAggregator();
            var types = new List<string>();
            await foreach (var e in aggregator.CollectAsync(client.Messages.CreateStreaming(ask))) types.Add(e.Type!.Raw());
            Message streamed = aggregator.Message();
            Assert.Equal("message_start", types[0]);
            Assert.Equal("message_stop", types[^1]);
            Assert.Equal(whole.StopReason!.Value(), streamed.StopReason!.Value());
            Assert.Equal(whole.Content.Count, streamed.Content.Count);
            for (int i = 0; i < whole.Content.Count; i++)
            {
                if (whole.Content[i].TryPickText(out var wt))
                {
                    Assert.True(streamed.Content[i].TryPickText(out var st));
                    Assert.Equal(wt!.Text, st!.Text);
                }
                else
                {
                    Assert.True(whole.Content[i].TryPickToolUse(out var wu));
                    Assert.True(streamed.Content[i].TryPickToolUse(out var su));
                    Assert.Equal(wu!.Name, su!.Name);
                    Assert.Equal(wu.Input["city"].GetString(), su.Input["city"].GetString());
                }
            }
            Assert.Equal(whole.Usage.OutputTokens, streamed.Usage.OutputTokens);
        }
    }

    /// <summary>The raw events, compared field by field with the shapes Anthropic streams.</summary>
    [Fact]
    public async Task StreamedEventsHaveAnthropicsShape()
    {
        var events = await ServerToolTests.Sse(f.Http, "/v1/messages",
            $$$"""{"model":"script","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Weather in Paris?"}],"tools":{{{ToolsJson}}}}""",
            r => { r.Headers.Add("x-api-key", "unused"); r.Headers.Add("anthropic-version", "2023-06-01"); });
        Assert.Equal(["message_start", "ping", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"], events.Select(e => e.Event));
        var data = events.Select(e => JsonDocument.Parse(e.Data).RootElement).ToList();
        for (int i = 0; i < events.Count; i++) Assert.Equal(events[i].Event, data[i].GetProperty("type").GetString());

        var message = data[0].GetProperty("message");
        Assert.Equal(["id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"], message.EnumerateObject().Select(p => p.Name));
        Assert.Equal("message", message.GetProperty("type").GetString());
        Assert.Equal(0, message.GetProperty("content").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, message.GetProperty("stop_reason").ValueKind);

        var start = data[2];
        Assert.Equal(0, start.GetProperty("index").GetInt32());
        var block = start.GetProperty("content_block");
        Assert.Equal(["type", "id", "name", "input"], block.EnumerateObject().Select(p => p.Name));
        Assert.Equal("tool_use", block.GetProperty("type").GetString());
        Assert.Empty(block.GetProperty("input").EnumerateObject());
        var delta = data[3].GetProperty("delta");
        Assert.Equal("input_json_delta", delta.GetProperty("type").GetString());
        Assert.Equal("Paris", JsonDocument.Parse(delta.GetProperty("partial_json").GetString()!).RootElement.GetProperty("city").GetString());
        Assert.Equal(0, data[4].GetProperty("index").GetInt32());

        var end = data[5];
        Assert.Equal("tool_use", end.GetProperty("delta").GetProperty("stop_reason").GetString());
        Assert.Equal(JsonValueKind.Null, end.GetProperty("delta").GetProperty("stop_sequence").ValueKind);
        Assert.Equal(5, end.GetProperty("usage").GetProperty("output_tokens").GetInt32());
        Assert.Equal(message.GetProperty("usage").GetProperty("input_tokens").GetInt32(),
            end.GetProperty("usage").GetProperty("input_tokens").GetInt32() + end.GetProperty("usage").GetProperty("cache_read_input_tokens").GetInt32());
    }

    [Fact]
    public async Task StopSequencesAndMaxTokensAreReported()
    {
        const string history = """[{"role":"user","content":"Weather in Paris?"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_9","name":"get_weather","input":{"city":"Paris"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_9","content":[{"type":"text","text":"sunny"}]}]}]""";
        var (status, body, _) = await f.Post("/v1/messages", $$$"""{"model":"script","max_tokens":64,"messages":{{{history}}},"stop_sequences":["sunny"]}""");
        Assert.Equal(200, status);
        Assert.Equal("stop_sequence", body.GetProperty("stop_reason").GetString());
        Assert.Equal("sunny", body.GetProperty("stop_sequence").GetString());
        Assert.Equal("It is ", body.GetProperty("content")[0].GetProperty("text").GetString());

        (status, body, _) = await f.Post("/v1/messages", $$$"""{"model":"script","max_tokens":1,"messages":{{{history}}}}""");
        Assert.Equal("max_tokens", body.GetProperty("stop_reason").GetString());
        Assert.Equal("It is", body.GetProperty("content")[0].GetProperty("text").GetString());
        Assert.Equal(1, body.GetProperty("usage").GetProperty("output_tokens").GetInt32());

        // tool_choice none: no tools offered, the model's call is text.
        (status, body, _) = await f.Post("/v1/messages", $$$"""{"model":"script","max_tokens":64,"messages":[{"role":"user","content":"Weather?"}],"tools":{{{ToolsJson}}},"tool_choice":{"type":"none"}}""");
        Assert.Equal("end_turn", body.GetProperty("stop_reason").GetString());
        Assert.StartsWith("<tool_call>", body.GetProperty("content")[0].GetProperty("text").GetString());
    }

    [Theory]
    [InlineData("""{"model":"script","messages":[{"role":"user","content":"hi"}]}""", 400, "invalid_request_error", "max_tokens")]
    [InlineData("""{"model":"script","max_tokens":5}""", 400, "invalid_request_error", "messages")]
    [InlineData("""{"model":"script","max_tokens":5,"messages":[{"role":"wizard","content":"hi"}]}""", 400, "invalid_request_error", "role")]
    [InlineData("""{"model":"script","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{}}]}]}""", 400, "invalid_request_error", "image")]
    [InlineData("""{"model":"script","max_tokens":5,"temperature":1.5,"messages":[{"role":"user","content":"hi"}]}""", 400, "invalid_request_error", "temperature")]
    [InlineData("""{"model":"script","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"a","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"b"}}""", 400, "invalid_request_error", "'b'")]
    [InlineData("""{"model":"script","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]}""", 400, "invalid_request_error", "web_search_20250305")]
    [InlineData("""{"model":"claude-opus-9","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}""", 404, "not_found_error", "claude-opus-9")]
    [InlineData("{oops", 400, "invalid_request_error", "JSON")]
    [InlineData("""{"model":"script","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"output_config":{"format":{"type":"json_schema","schema":{"type":"object"}}}}""", 400, "invalid_request_error", "not yet supported")]
    public async Task ErrorsComeInAnthropicsShape(string json, int status, string type, string mentioned)
    {
        var (got, body, _) = await f.Post("/v1/messages", json);
        Assert.Equal(status, got);
        Assert.Equal(["type", "error"], body.EnumerateObject().Select(p => p.Name));
        Assert.Equal("error", body.GetProperty("type").GetString());
        Assert.Equal(type, body.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains(mentioned, body.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task SdkSeesErrorsAsAnthropicErrors()
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => Client().Messages.Create(Ask() with { Model = "claude-opus-9" }));
        Assert.Contains("not_found_error", e.ToString());
    }
}

/// <summary>The key as Anthropic's clients send it (x-api-key), and "overloaded" while the model loads.</summary>
public class ServerMessagesAuthTests
{
    [Fact]
    public async Task XApiKeyIsCheckedLikeBearerAndLoadingIsOverloaded()
    {
        using var dir = new TempDir();
        string path = ToolServerFixture.Script.Write(dir.Path);
        using var gate = new ManualResetEventSlim();
        await using var server = StrataServer.Create(new StrataServerOptions
        {
            ModelPath = path,
            Port = 0,
            Parallel = 1,
            Context = 2048,
            Threads = 2,
            ApiKey = "sekrit",
            Loader = () =>
            {
                gate.Wait(TimeSpan.FromSeconds(30));
                return Strata.Engine.Model.Load(path, new Strata.Engine.ModelOptions { Threads = 2, Context = 2048, MaxSequences = 1 });
            },
        });
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
        const string body = """{"model":"script","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}""";
        async Task<(int, JsonElement)> Post(string? key)
        {
            using var r = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = ServerFixture.Json(body) };
            if (key is not null) r.Headers.Add("x-api-key", key);
            r.Headers.Add("anthropic-version", "2023-06-01");
            var response = await http.SendAsync(r);
            return ((int)response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
        }

        var (loading, e0) = await Post("sekrit");
        Assert.Equal(529, loading);
        Assert.Equal("overloaded_error", e0.GetProperty("error").GetProperty("type").GetString());
        gate.Set();
        await server.Host.Ready;

        var (none, e1) = await Post(null);
        Assert.Equal(401, none);
        Assert.Equal("authentication_error", e1.GetProperty("error").GetProperty("type").GetString());
        var (wrong, e2) = await Post("sekrit2");
        Assert.Equal(401, wrong);
        Assert.Equal("authentication_error", e2.GetProperty("error").GetProperty("type").GetString());
        var (right, ok) = await Post("sekrit");
        Assert.Equal(200, right);
        Assert.Equal("message", ok.GetProperty("type").GetString());

        // The SDK sends its key as x-api-key; a Bearer token works on the Messages API too.
        var client = new AnthropicClient(new ClientOptions { BaseUrl = server.Address!.ToString().TrimEnd('/'), ApiKey = "sekrit", MaxRetries = 0 });
        var m = await client.Messages.Create(new MessageCreateParams { Model = "script", MaxTokens = 1, Messages = [new UserMessageParam("hi")] });
        Assert.Equal(1, m.Usage.OutputTokens);
        var (bearer, _, _) = await ServerFixture.Post(http, "/v1/messages", body, "sekrit");
        Assert.Equal(200, bearer);
    }
}
