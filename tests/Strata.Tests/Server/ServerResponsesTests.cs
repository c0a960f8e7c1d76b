#pragma warning disable OPENAI001 // the Responses client is marked experimental
using System.ClientModel;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI.Responses;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AiChatRole = Microsoft.Extensions.AI.ChatRole;

namespace Strata.Tests.Server;

/// <summary>
/// POST /v1/responses against the real server on the script model, driven by the official OpenAI client's
/// ResponsesClient, Microsoft.Extensions.AI's function loop over it, and raw HTTP for the events' exact shapes.
/// </summary>
[Collection("ToolServer")]
public class ServerResponsesTests(ToolServerFixture f)
{
    private const string ToolsJson = """[{"type":"function","name":"get_weather","description":"Weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]""";

    private ResponsesClient Client() => new(new ApiKeyCredential("unused"),
        new ResponsesClientOptions { Endpoint = new Uri(f.BaseAddress, "/v1"), NetworkTimeout = TimeSpan.FromSeconds(60) });

    private static FunctionTool Weather() => ResponseTool.CreateFunctionTool("get_weather",
        BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"""), strictModeEnabled: false, "Weather for a city");

    [Fact]
    public async Task FunctionCallThenOutputThenAnswerWithTheResponsesClient()
    {
        var client = Client();
        var options = new CreateResponseOptions("script", [ResponseItem.CreateUserMessageItem("Weather in Paris?")]) { Tools = { Weather() } };
        ResponseResult first = await client.CreateResponseAsync(options);
        Assert.StartsWith("resp_", first.Id);
        Assert.Equal(ResponseStatus.Completed, first.Status);
        var call = Assert.IsType<FunctionCallResponseItem>(Assert.Single(first.OutputItems));
        Assert.StartsWith("fc_", call.Id);
        Assert.StartsWith("call_", call.CallId);
        Assert.Equal("get_weather", call.FunctionName);
        Assert.Equal("Paris", JsonDocument.Parse(call.FunctionArguments.ToString()).RootElement.GetProperty("city").GetString());
        Assert.Equal(5, first.Usage.OutputTokenCount);
        Assert.Equal(first.Usage.InputTokenCount + first.Usage.OutputTokenCount, first.Usage.TotalTokenCount);

        // Stateless: the whole conversation goes back, the call and its output as items.
        var second = await client.CreateResponseAsync(new CreateResponseOptions("script",
            [ResponseItem.CreateUserMessageItem("Weather in Paris?"), call, ResponseItem.CreateFunctionCallOutputItem(call.CallId, "sunny, 21 C")]) { Tools = { Weather() } });
        Assert.Equal(ResponseStatus.Completed, second.Value.Status);
        Assert.Equal(ToolServerFixture.Answer, second.Value.GetOutputText());
        var message = Assert.IsAssignableFrom<MessageResponseItem>(Assert.Single(second.Value.OutputItems));
        Assert.StartsWith("msg_", message.Id);
        Assert.True(second.Value.Usage.InputTokenDetails.CachedTokenCount > 0); // the shared prefix came from the KV cache
    }

    [Fact]
    public async Task StreamingWithTheResponsesClient()
    {
        var input = new List<ResponseItem>
        {
            ResponseItem.CreateUserMessageItem("Weather in Paris?"),
            ResponseItem.CreateFunctionCallItem("call_1", "get_weather", BinaryData.FromString("""{"city":"Paris"}""")),
            ResponseItem.CreateFunctionCallOutputItem("call_1", "sunny"),
        };
        var text = new System.Text.StringBuilder();
        ResponseResult? completed = null;
        var sequence = new List<int>();
        await foreach (var u in await Client().CreateResponseStreamingAsync(new CreateResponseOptions("script", input) { Tools = { Weather() }, StreamingEnabled = true }))
        {
            sequence.Add(u.SequenceNumber);
            if (u is StreamingResponseOutputTextDeltaUpdate d) text.Append(d.Delta);
            if (u is StreamingResponseCompletedUpdate c) completed = c.Response;
        }
        Assert.Equal(Enumerable.Range(0, sequence.Count), sequence);
        Assert.Equal(ToolServerFixture.Answer, text.ToString());
        Assert.NotNull(completed);
        Assert.Equal(ToolServerFixture.Answer, completed.GetOutputText());
        Assert.Equal(3, completed.Usage.OutputTokenCount);
    }

    [Fact]
    public async Task FunctionInvokingChatClientOverTheResponsesApi()
    {
        IChatClient client = Client().AsIChatClient("script").AsBuilder().UseFunctionInvocation().Build();
        var cities = new List<string>();
        var tool = AIFunctionFactory.Create((string city) =>
        {
            cities.Add(city);
            return $"sunny in {city}";
        }, "get_weather", "Weather for a city");
        var response = await client.GetResponseAsync([new AiChatMessage(AiChatRole.User, "Weather in Paris?")], new ChatOptions { Tools = [tool] });
        Assert.Equal(["Paris"], cities);
        Assert.Equal(ToolServerFixture.Answer, response.Text);
    }

    [Fact]
    public async Task StreamedEventsHaveTheResponsesShape()
    {
        // A function call...
        var events = await ServerToolTests.Sse(f.Http, "/v1/responses", $$$"""{"model":"script","input":"Weather in Paris?","tools":{{{ToolsJson}}},"stream":true}""");
        Assert.Equal(["response.created", "response.in_progress", "response.output_item.added", "response.function_call_arguments.delta",
            "response.function_call_arguments.done", "response.output_item.done", "response.completed"], events.Select(e => e.Event));
        var data = CheckEnvelope(events);
        Assert.Equal("in_progress", data[0].GetProperty("response").GetProperty("status").GetString());
        Assert.Equal(0, data[0].GetProperty("response").GetProperty("output").GetArrayLength());
        var added = data[2].GetProperty("item");
        Assert.Equal(["id", "type", "status", "call_id", "name", "arguments"], added.EnumerateObject().Select(p => p.Name));
        Assert.Equal("function_call", added.GetProperty("type").GetString());
        Assert.Equal("in_progress", added.GetProperty("status").GetString());
        Assert.Equal("", added.GetProperty("arguments").GetString());
        string itemId = added.GetProperty("id").GetString()!;
        Assert.Equal(itemId, data[3].GetProperty("item_id").GetString());
        Assert.Equal(0, data[3].GetProperty("output_index").GetInt32());
        string arguments = data[4].GetProperty("arguments").GetString()!;
        Assert.Equal(data[3].GetProperty("delta").GetString(), arguments);
        Assert.Equal("Paris", JsonDocument.Parse(arguments).RootElement.GetProperty("city").GetString());
        Assert.Equal("completed", data[5].GetProperty("item").GetProperty("status").GetString());
        Assert.Equal(arguments, data[5].GetProperty("item").GetProperty("arguments").GetString());
        var response = data[6].GetProperty("response");
        Assert.Equal("completed", response.GetProperty("status").GetString());
        Assert.Equal(itemId, response.GetProperty("output")[0].GetProperty("id").GetString());
        Assert.Equal(5, response.GetProperty("usage").GetProperty("output_tokens").GetInt32());
        Assert.True(response.GetProperty("usage").GetProperty("input_tokens_details").TryGetProperty("cached_tokens", out _));

        // ... and a text answer, cut by max_output_tokens: incomplete.
        const string input = """[{"role":"user","content":[{"type":"input_text","text":"Weather in Paris?"}]},{"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},{"type":"function_call_output","call_id":"call_1","output":"sunny"}]""";
        events = await ServerToolTests.Sse(f.Http, "/v1/responses", $$$"""{"model":"script","input":{{{input}}},"tools":{{{ToolsJson}}},"stream":true,"max_output_tokens":2}""");
        Assert.Equal(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
            "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.incomplete"], events.Select(e => e.Event));
        data = CheckEnvelope(events);
        var message = data[2].GetProperty("item");
        Assert.Equal(["id", "type", "status", "role", "content"], message.EnumerateObject().Select(p => p.Name));
        Assert.Equal(0, message.GetProperty("content").GetArrayLength());
        Assert.Equal(["item_id", "output_index", "content_index", "part"], data[3].EnumerateObject().Select(p => p.Name).Where(n => n is not ("type" or "sequence_number")));
        Assert.Equal("output_text", data[3].GetProperty("part").GetProperty("type").GetString());
        Assert.Equal("It is sunny", data[4].GetProperty("delta").GetString() + data[5].GetProperty("delta").GetString());
        Assert.Equal("It is sunny", data[6].GetProperty("text").GetString());
        Assert.Equal("It is sunny", data[7].GetProperty("part").GetProperty("text").GetString());
        Assert.Equal("incomplete", data[8].GetProperty("item").GetProperty("status").GetString());
        response = data[9].GetProperty("response");
        Assert.Equal("incomplete", response.GetProperty("status").GetString());
        Assert.Equal("max_output_tokens", response.GetProperty("incomplete_details").GetProperty("reason").GetString());
        Assert.Equal("It is sunny", response.GetProperty("output")[0].GetProperty("content")[0].GetProperty("text").GetString());
    }

    /// <summary>Every event: its name is its type, sequence numbers count from 0, one response id throughout.</summary>
    private static List<JsonElement> CheckEnvelope(List<ServerToolTests.SseEvent> events)
    {
        var data = events.Select(e => JsonDocument.Parse(e.Data).RootElement).ToList();
        for (int i = 0; i < data.Count; i++)
        {
            Assert.Equal(events[i].Event, data[i].GetProperty("type").GetString());
            Assert.Equal(i, data[i].GetProperty("sequence_number").GetInt32());
        }
        Assert.Equal(data[0].GetProperty("response").GetProperty("id").GetString(), data[^1].GetProperty("response").GetProperty("id").GetString());
        return data;
    }

    [Fact]
    public async Task InstructionsAndToolChoiceNone()
    {
        var (status, body, _) = await f.Post("/v1/responses", $$$"""{"model":"script","input":"Weather?","instructions":"Be brief.","tools":{{{ToolsJson}}},"tool_choice":"none"}""");
        Assert.Equal(200, status);
        Assert.Equal("Be brief.", body.GetProperty("instructions").GetString());
        Assert.Equal("none", body.GetProperty("tool_choice").GetString());
        Assert.Equal("get_weather", body.GetProperty("tools")[0].GetProperty("name").GetString());
        Assert.False(body.GetProperty("store").GetBoolean());
        var item = Assert.Single(body.GetProperty("output").EnumerateArray());
        Assert.Equal("message", item.GetProperty("type").GetString());
        Assert.StartsWith("<tool_call>", item.GetProperty("content")[0].GetProperty("text").GetString());
        // The prompt: the instructions as the system turn, no tools.
        var prompt = Strata.Chat.ChatPrompt.Tokens(f.Model, f.Server.Host.Template, [new("system", "Be brief."), new("user", "Weather?")]);
        Assert.Equal(prompt.Length, body.GetProperty("usage").GetProperty("input_tokens").GetInt32());
    }

    [Theory]
    [InlineData("""{"model":"script","input":"x","previous_response_id":"resp_123"}""", "previous_response_id", "does not store responses")]
    [InlineData("""{"model":"script","input":"x","text":{"format":{"type":"json_schema","name":"w"}}}""", "text.format", "schema")]
    [InlineData("""{"model":"script","input":"x","text":{"format":{"type":"json_schema","name":"w","schema":{"type":"object","patternProperties":{}}}}}""", "text.format", "patternProperties")]
    [InlineData("""{"model":"script","input":"x","text":{"format":{"type":"xml"}}}""", "text.format.type", "xml")]
    [InlineData("""{"model":"script"}""", "input", "input")]
    [InlineData("""{"model":"script","input":[]}""", "input", "empty")]
    [InlineData("""{"model":"script","input":[{"role":"user","content":[{"type":"input_image","image_url":"x"}]}]}""", "input[0].content[0].type", "text only")]
    [InlineData("""{"model":"script","input":[{"type":"item_reference","id":"msg_1"}]}""", "input[0].type", "does not store")]
    [InlineData("""{"model":"script","input":"x","tools":[{"type":"web_search"}]}""", "tools[0].type", "web_search")]
    [InlineData("""{"model":"script","input":"x","tools":[{"type":"function","name":"a"}],"tool_choice":{"type":"function","name":"b"}}""", "tool_choice", "'b'")]
    [InlineData("""{"model":"script","input":"x","max_output_tokens":0}""", "max_output_tokens", "max_output_tokens")]
    public async Task BadRequestsAreRefusedByName(string json, string param, string mentioned)
    {
        var (status, body, _) = await f.Post("/v1/responses", json);
        Assert.Equal(400, status);
        var e = body.GetProperty("error");
        Assert.Equal("invalid_request_error", e.GetProperty("type").GetString());
        Assert.Equal(param, e.GetProperty("param").GetString());
        Assert.Contains(mentioned, e.GetProperty("message").GetString());
    }
}
