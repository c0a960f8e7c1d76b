using System.ComponentModel;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Strata.Extensions.AI;
using Strata.Tests.Grammar;
using Strata.Tests.Server;
using Strata.Tests.Support;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace Strata.Tests.Extensions;

/// <summary>
/// Tools and structured output through Microsoft.Extensions.AI: a script model (greedy output chosen by the test, a
/// Qwen2.5 tool template) runs UseFunctionInvocation's loop; a random-weight model shows that a required call and a
/// response format are enforced by the grammar, not hoped for.
/// </summary>
public class ChatClientToolTests
{
    private static StrataChatClient ScriptClient(TempDir dir, string? kv = null) => new(new StrataOptions
    {
        ModelPath = ToolServerFixture.Script.Write(dir.Path),
        Threads = 2,
        Context = 2048,
        Parallel = 2,
        Kv = new StrataKvOptions { Directory = kv },
    });

    private sealed class Weather
    {
        public List<string> Cities { get; } = new();

        public AIFunction Function => AIFunctionFactory.Create(([Description("The city")] string city) =>
        {
            lock (Cities) Cities.Add(city);
            return "sunny, 22 °C";
        }, "get_weather", "The weather in a city now");
    }

    [Fact]
    public async Task UseFunctionInvocationRunsTheToolLoop()
    {
        using var dir = new TempDir();
        using var strata = ScriptClient(dir);
        var weather = new Weather();
        IChatClient chat = new ChatClientBuilder(strata).UseFunctionInvocation().Build();

        var response = await chat.GetResponseAsync("What is the weather in Paris?", new ChatOptions { Tools = [weather.Function], Temperature = 0 });
        Assert.Equal(["Paris"], weather.Cities);
        Assert.Equal(ToolServerFixture.Answer, response.Text);
        // The loop's messages: the model's call, the function's result, the final answer.
        var call = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.Equal("get_weather", call.Name);
        Assert.Equal("Paris", call.Arguments!["city"]?.ToString());
        var result = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>());
        Assert.Equal(call.CallId, result.CallId);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
    }

    [Fact]
    public async Task TheLoopWorksOnAConversationIdAndItsCallsSurviveARestart()
    {
        using var dir = new TempDir();
        using var kv = new TempDir();
        var weather = new Weather();
        var options = new ChatOptions { Tools = [weather.Function], Temperature = 0, ConversationId = "agent" };
        using (var strata = ScriptClient(dir, kv.Path))
        {
            IChatClient chat = new ChatClientBuilder(strata).UseFunctionInvocation().Build();
            // With a conversation id in the response, the loop sends only the function's result on its second call.
            var response = await chat.GetResponseAsync("What is the weather in Paris?", options.Clone());
            Assert.Equal(ToolServerFixture.Answer, response.Text);
            Assert.Equal("agent", response.ConversationId);
        }
        Assert.Equal(["Paris"], weather.Cities);
        // A new process finds the conversation, calls and results included: the script's second part answers at once.
        using var again = ScriptClient(dir, kv.Path);
        var next = await again.GetResponseAsync("And tomorrow?", options.Clone());
        Assert.Equal(ToolServerFixture.Answer, next.Text);
        Assert.True(next.Usage!.CachedInputTokenCount > 0);
    }

    [Fact]
    public async Task StreamedCallsAreFunctionCallContentAndToolModeNoneTurnsThemOff()
    {
        using var dir = new TempDir();
        using var strata = ScriptClient(dir);
        var weather = new Weather();
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in strata.GetStreamingResponseAsync("Weather in Paris?", new ChatOptions { Tools = [weather.Function], Temperature = 0 })) updates.Add(u);
        var call = Assert.Single(updates.SelectMany(u => u.Contents).OfType<FunctionCallContent>());
        Assert.Equal("get_weather", call.Name);
        Assert.Equal("""{"city":"Paris"}""", JsonSerializer.Serialize(call.Arguments));
        Assert.Equal(ChatFinishReason.ToolCalls, updates.Last(u => u.FinishReason is not null).FinishReason);
        Assert.Empty(weather.Cities); // without the middleware nothing runs the function

        // ToolMode none: the template gets no tools and nothing is parsed as a call.
        var none = await strata.GetResponseAsync("Weather in Paris?", new ChatOptions { Tools = [weather.Function], ToolMode = ChatToolMode.None, Temperature = 0 });
        Assert.Empty(none.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.Contains("get_weather", none.Text);
        Assert.Equal(ChatFinishReason.Stop, none.FinishReason);

        var e = await Assert.ThrowsAsync<ArgumentException>(() => strata.GetResponseAsync("x", new ChatOptions { Tools = [weather.Function], ToolMode = ChatToolMode.RequireSpecific("get_time") }));
        Assert.Contains("get_time", e.Message);
        await Assert.ThrowsAsync<NotSupportedException>(() => strata.GetResponseAsync("x", new ChatOptions { Tools = [new HostedWebSearchTool()] }));
    }

    // A random-weight model: its output is arbitrary unless the grammar holds it.
    private static StrataChatClient RandomClient(TempDir dir) => new(new StrataOptions
    {
        ModelPath = TestModels.Write(new ModelSpec("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 1000, Seed: 3, Context: 2048), dir.Path),
        Threads = 2,
        Context = 2048,
        Parallel = 2,
    });

    private const string CityParams = """
        {"type":"object","additionalProperties":false,"required":["city","days"],
         "properties":{"city":{"type":"string","maxLength":12},"days":{"type":"integer","minimum":1,"maximum":7}}}
        """;

    [Fact]
    public async Task ARequiredCallIsEnforcedWithArgumentsThatValidate()
    {
        using var dir = new TempDir();
        using var chat = RandomClient(dir);
        var forecast = AIFunctionFactory.CreateDeclaration("get_forecast", "Weather for a city", JsonDocument.Parse(CityParams).RootElement);
        for (long seed = 1; seed <= 3; seed++)
        {
            var r = await chat.GetResponseAsync("What now?", new ChatOptions { Tools = [forecast], ToolMode = ChatToolMode.RequireAny, Temperature = 1, Seed = seed, MaxOutputTokens = 600 });
            Assert.Equal(ChatFinishReason.ToolCalls, r.FinishReason);
            foreach (var call in r.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>())
            {
                Assert.Equal("get_forecast", call.Name);
                Assert.Null(SchemaValidator.Validate(CityParams, JsonSerializer.Serialize(call.Arguments)));
            }
        }
    }

    public enum Genre { Drama, Comedy, Western }

    // Bounded fields only: on a random model an unbounded string would run to the token limit.
    private sealed record Film(Genre Genre, bool Sequel);

    [Fact]
    public async Task AResponseFormatHoldsTheAnswerToItsSchema()
    {
        using var dir = new TempDir();
        using var chat = RandomClient(dir);
        var schema = JsonDocument.Parse("""{"type":"object","additionalProperties":false,"required":["title","year"],"properties":{"title":{"type":"string","maxLength":12},"year":{"type":"integer","minimum":1900,"maximum":2030}}}""").RootElement;
        for (long seed = 1; seed <= 2; seed++)
        {
            var r = await chat.GetResponseAsync("Describe a film.", new ChatOptions { ResponseFormat = ChatResponseFormat.ForJsonSchema(schema, "film"), Temperature = 1, Seed = seed, MaxOutputTokens = 400 });
            Assert.Null(SchemaValidator.Validate(schema.GetRawText(), r.Text));
        }
        var json = await chat.GetResponseAsync("Anything.", new ChatOptions { ResponseFormat = ChatResponseFormat.Json, Temperature = 1, Seed = 7, MaxOutputTokens = 400 });
        Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(json.Text).RootElement.ValueKind);

        // Microsoft.Extensions.AI's typed structured output: the schema comes from the type, the answer deserializes.
        var film = await chat.GetResponseAsync<Film>("Describe a film.", new ChatOptions { Temperature = 1, Seed = 3, MaxOutputTokens = 400 });
        Assert.True(film.TryGetResult(out var value), film.Text);
        Assert.True(Enum.IsDefined(value!.Genre));

        var e = await Assert.ThrowsAsync<ArgumentException>(() => chat.GetResponseAsync("x", new ChatOptions { AdditionalProperties = new() { ["grammar"] = "root ::= foo" } }));
        Assert.Contains("grammar", e.Message);
    }
}
