using System.ClientModel;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AiChatRole = Microsoft.Extensions.AI.ChatRole;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;

namespace Strata.Tests.Server;

/// <summary>
/// Tool calling in /v1/chat/completions against the real server on the script model (which calls get_weather until
/// it sees a tool result, then answers), driven by the official OpenAI client, Microsoft.Extensions.AI's function
/// invocation loop, and raw HTTP for the streamed chunks' exact shape.
/// </summary>
[Collection("ToolServer")]
public class ServerToolTests(ToolServerFixture f)
{
    private const string ToolsJson = """[{"type":"function","function":{"name":"get_weather","description":"Weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]""";

    private ChatClient Chat() => new("script", new ApiKeyCredential("unused"),
        new OpenAIClientOptions { Endpoint = new Uri(f.BaseAddress, "/v1"), NetworkTimeout = TimeSpan.FromSeconds(60) });

    private static ChatTool Weather() => ChatTool.CreateFunctionTool("get_weather", "Weather for a city",
        BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"""));

    private static void AssertArguments(string expected, string actual) =>
        Assert.True(JsonElement.DeepEquals(JsonDocument.Parse(expected).RootElement, JsonDocument.Parse(actual).RootElement), actual);

    [Fact]
    public async Task OpenAiClientGetsToolCallsAndCompletesTheTurnAfterTheResult()
    {
        var chat = Chat();
        var options = new ChatCompletionOptions { Tools = { Weather() }, ToolChoice = ChatToolChoice.CreateAutoChoice(), Temperature = 0 };
        List<OpenAI.Chat.ChatMessage> messages = [new UserChatMessage("Weather in Paris?")];
        ChatCompletion first = await chat.CompleteChatAsync(messages, options);
        Assert.Equal(ChatFinishReason.ToolCalls, first.FinishReason);
        var call = Assert.Single(first.ToolCalls);
        Assert.Equal("get_weather", call.FunctionName);
        Assert.Matches("^call_[A-Za-z0-9]{24}$", call.Id);
        AssertArguments(ToolServerFixture.CallArguments, call.FunctionArguments.ToString());
        Assert.Empty(first.Content);

        // The call and its result go back; the template renders both, and the answer follows.
        messages.Add(new AssistantChatMessage(first));
        messages.Add(new ToolChatMessage(call.Id, "sunny, 21 C"));
        ChatCompletion second = await chat.CompleteChatAsync(messages, options);
        Assert.Equal(ChatFinishReason.Stop, second.FinishReason);
        Assert.Empty(second.ToolCalls);
        Assert.Equal(ToolServerFixture.Answer, second.Content[0].Text);
    }

    [Fact]
    public async Task OpenAiClientStreamsToolCallUpdates()
    {
        var options = new ChatCompletionOptions { Tools = { Weather() }, ToolChoice = ChatToolChoice.CreateFunctionChoice("get_weather") };
        string? id = null, name = null;
        var arguments = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (var u in Chat().CompleteChatStreamingAsync([new UserChatMessage("Weather in Paris?")], options))
        {
            foreach (var t in u.ToolCallUpdates)
            {
                Assert.Equal(0, t.Index);
                id ??= t.ToolCallId;
                name ??= t.FunctionName;
                arguments.Append(t.FunctionArgumentsUpdate?.ToString());
            }
            Assert.DoesNotContain(u.ContentUpdate, p => p.Text.Length > 0);
            finish ??= u.FinishReason;
        }
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
        Assert.Equal("get_weather", name);
        Assert.StartsWith("call_", id);
        AssertArguments(ToolServerFixture.CallArguments, arguments.ToString());
    }

    [Fact]
    public async Task FunctionInvokingChatClientCompletesATwoStepToolLoop()
    {
        IChatClient client = Chat().AsIChatClient().AsBuilder().UseFunctionInvocation().Build();
        var cities = new List<string>();
        var tool = AIFunctionFactory.Create((string city) =>
        {
            cities.Add(city);
            return $"sunny in {city}";
        }, "get_weather", "Weather for a city");
        var options = new ChatOptions { Tools = [tool], Temperature = 0 };
        var response = await client.GetResponseAsync([new AiChatMessage(AiChatRole.User, "Weather in Paris?")], options);
        Assert.Equal(["Paris"], cities); // the function ran once, with the model's argument
        Assert.Equal(ToolServerFixture.Answer, response.Text);
        // The loop's messages: the call, the function's result, the answer.
        Assert.Contains(response.Messages, m => m.Contents.OfType<FunctionCallContent>().Any(c => c.Name == "get_weather"));
        Assert.Contains(response.Messages, m => m.Contents.OfType<FunctionResultContent>().Any(r => r.Result?.ToString() == "sunny in Paris"));

        // The same loop streamed.
        cities.Clear();
        var text = new System.Text.StringBuilder();
        await foreach (var update in client.GetStreamingResponseAsync([new AiChatMessage(AiChatRole.User, "Weather in Paris?")], options)) text.Append(update.Text);
        Assert.Equal(["Paris"], cities);
        Assert.Equal(ToolServerFixture.Answer, text.ToString());
    }

    /// <summary>The raw chunks, compared field by field with the shape OpenAI streams.</summary>
    [Fact]
    public async Task StreamedToolCallChunksHaveOpenAisShape()
    {
        var chunks = await Sse($$$"""{"messages":[{"role":"user","content":"Weather in Paris?"}],"tools":{{{ToolsJson}}},"stream":true,"stream_options":{"include_usage":true}}""");
        Assert.Equal("[DONE]", chunks[^1].Data);
        var json = chunks.Take(chunks.Count - 1).Select(c => JsonDocument.Parse(c.Data).RootElement).ToList();
        foreach (var c in json)
        {
            Assert.StartsWith("chatcmpl-", c.GetProperty("id").GetString());
            Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString());
            Assert.Equal("script", c.GetProperty("model").GetString());
        }
        var withChoices = json.Where(c => c.GetProperty("choices").GetArrayLength() > 0).Select(c => c.GetProperty("choices")[0]).ToList();
        // 1. role; 2. the call's head: index, id, type, name, empty arguments; 3. its arguments; 4. the finish.
        Assert.Equal(4, withChoices.Count);
        Assert.Equal("assistant", withChoices[0].GetProperty("delta").GetProperty("role").GetString());
        var head = Assert.Single(withChoices[1].GetProperty("delta").GetProperty("tool_calls").EnumerateArray());
        Assert.Equal(["index", "id", "type", "function"], head.EnumerateObject().Select(p => p.Name));
        Assert.Equal(0, head.GetProperty("index").GetInt32());
        Assert.Matches("^call_", head.GetProperty("id").GetString());
        Assert.Equal("function", head.GetProperty("type").GetString());
        Assert.Equal(["name", "arguments"], head.GetProperty("function").EnumerateObject().Select(p => p.Name));
        Assert.Equal("get_weather", head.GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("", head.GetProperty("function").GetProperty("arguments").GetString());
        var args = Assert.Single(withChoices[2].GetProperty("delta").GetProperty("tool_calls").EnumerateArray());
        Assert.Equal(["index", "function"], args.EnumerateObject().Select(p => p.Name));
        Assert.Equal(["arguments"], args.GetProperty("function").EnumerateObject().Select(p => p.Name));
        AssertArguments(ToolServerFixture.CallArguments, args.GetProperty("function").GetProperty("arguments").GetString()!);
        Assert.Equal("tool_calls", withChoices[3].GetProperty("finish_reason").GetString());
        Assert.Empty(withChoices[3].GetProperty("delta").EnumerateObject());
        foreach (var c in withChoices.Take(3)) Assert.Equal(JsonValueKind.Null, c.GetProperty("finish_reason").ValueKind);
        var usage = json[^1];
        Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
        Assert.Equal(5, usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task ToolChoiceNoneOffersNoToolsAndParsesNoCalls()
    {
        var (status, body, _) = await f.Post("/v1/chat/completions", $$$"""{"messages":[{"role":"user","content":"Weather in Paris?"}],"tools":{{{ToolsJson}}},"tool_choice":"none","temperature":0}""");
        Assert.Equal(200, status);
        var choice = body.GetProperty("choices")[0];
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        Assert.False(choice.GetProperty("message").TryGetProperty("tool_calls", out _));
        // The model writes its call anyway; with tool_choice none it is text.
        Assert.StartsWith("<tool_call>", choice.GetProperty("message").GetProperty("content").GetString());
        // And the prompt holds no tool definitions: the same tokens as without tools.
        var (_, plain, _) = await f.Post("/v1/chat/completions", """{"messages":[{"role":"user","content":"Weather in Paris?"}],"max_tokens":1}""");
        Assert.Equal(plain.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    /// <summary>
    /// Required and named tool choices also shape the prompt (the system turn says a call is required; a named choice
    /// offers only that function); constrained decoding holds the answer to a call (GrammarServerTests).
    /// </summary>
    [Fact]
    public async Task RequiredAndNamedToolChoicesShapeThePrompt()
    {
        const string two = """[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}]""";
        var weather = new Strata.Chat.Tools.ToolDefinition("get_weather", null, JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string"}}}""").RootElement);
        var time = new Strata.Chat.Tools.ToolDefinition("get_time", null, JsonDocument.Parse("""{"type":"object","properties":{}}""").RootElement);
        List<Strata.Chat.ChatMessage> ask = [new("user", "Weather in Paris?")];
        foreach (var (choice, tools, instruction) in new[]
        {
            ("\"required\"", new[] { weather, time }, Strata.Chat.Tools.ToolPrompt.Requirement(null)),
            ("""{"type":"function","function":{"name":"get_weather"}}""", new[] { weather }, Strata.Chat.Tools.ToolPrompt.Requirement("get_weather")),
        })
        {
            var (status, body, _) = await f.Post("/v1/chat/completions", $$$"""{"messages":[{"role":"user","content":"Weather in Paris?"}],"tools":{{{two}}},"tool_choice":{{{choice}}}}""");
            Assert.Equal(200, status);
            var expected = Strata.Chat.ChatPrompt.Render(f.Model, f.Server.Host.Template, ask, new Strata.Chat.ChatRenderOptions { Tools = tools, Instruction = instruction });
            Assert.Contains(instruction, expected.Text);
            Assert.Equal(expected.Tokens.Length, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
            Assert.Equal("tool_calls", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        }
    }

    [Fact]
    public async Task AToolCallCutByMaxTokensIsPlainContent()
    {
        var (status, body, _) = await f.Post("/v1/chat/completions", $$$"""{"messages":[{"role":"user","content":"Weather in Paris?"}],"tools":{{{ToolsJson}}},"max_tokens":3}""");
        Assert.Equal(200, status);
        var choice = body.GetProperty("choices")[0];
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.False(choice.GetProperty("message").TryGetProperty("tool_calls", out _));
        Assert.Equal("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": ", choice.GetProperty("message").GetProperty("content").GetString());
    }

    [Fact]
    public async Task ACallToAFunctionNotOfferedIsText()
    {
        const string other = """[{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}]""";
        var (_, body, _) = await f.Post("/v1/chat/completions", $$$"""{"messages":[{"role":"user","content":"Weather?"}],"tools":{{{other}}}}""");
        var choice = body.GetProperty("choices")[0];
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        Assert.StartsWith("<tool_call>", choice.GetProperty("message").GetProperty("content").GetString());
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"get weather"}}]}""", "tools[0].function.name", "invalid_value")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search"}]}""", "tools[0].type", "unsupported_value")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a","parameters":"{}"}}]}""", "tools[0].function.parameters", "invalid_type")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"a"}}]}""", "tools", "invalid_value")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":{"type":"function","function":{"name":"b"}}}""", "tool_choice", "invalid_value")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"tool_choice":"required"}""", "tool_choice", "invalid_value")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":"sometimes"}""", "tool_choice", "invalid_value")]
    [InlineData("""{"messages":[{"role":"tool","content":"x"}]}""", "messages[0].tool_call_id", "missing_required_parameter")]
    [InlineData("""{"messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"a","arguments":"{}"}}]}]}""", "messages[0].tool_calls[0].id", "missing_required_parameter")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"chat_template_kwargs":{"messages":[]}}""", "chat_template_kwargs.messages", "invalid_value")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"chat_template_kwargs":[1]}""", "chat_template_kwargs", "invalid_type")]
    public async Task BadToolFieldsAreRefusedByName(string json, string param, string code)
    {
        var (status, body, _) = await f.Post("/v1/chat/completions", json);
        Assert.Equal(400, status);
        var e = body.GetProperty("error");
        Assert.Equal("invalid_request_error", e.GetProperty("type").GetString());
        Assert.Equal(param, e.GetProperty("param").GetString());
        Assert.Equal(code, e.GetProperty("code").GetString());
    }

    public sealed record SseEvent(string? Event, string Data);

    /// <summary>POSTs a streaming request and returns its server-sent events in order.</summary>
    public static async Task<List<SseEvent>> Sse(HttpClient http, string path, string json, Action<HttpRequestMessage>? headers = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = ServerFixture.Json(json) };
        headers?.Invoke(request);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.StartsWith("text/event-stream", response.Content.Headers.ContentType?.ToString());
        string text = await response.Content.ReadAsStringAsync();
        var events = new List<SseEvent>();
        foreach (var block in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string? name = null, data = null;
            foreach (var line in block.Split('\n'))
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line["event: ".Length..];
                else if (line.StartsWith("data: ", StringComparison.Ordinal)) data = line["data: ".Length..];
            }
            if (data is not null) events.Add(new SseEvent(name, data));
        }
        return events;
    }

    private Task<List<SseEvent>> Sse(string json) => Sse(f.Http, "/v1/chat/completions", json);
}
