#pragma warning disable OPENAI001 // ChatCompletionOptions.Seed is marked experimental
using System.ClientModel;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using Strata.Server.Hosting;
using Strata.Tests.Server;
using Strata.Tests.Support;

namespace Strata.Tests.Grammar;

/// <summary>A real server on a random-weight model (its output is arbitrary unless the grammar holds it).</summary>
public sealed class GrammarServerFixture : LoopbackServer
{
    protected override StrataServerOptions Options(string dir) => new()
    {
        ModelPath = TestModels.Write(new ModelSpec("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 1000, Seed: 3, Context: 2048), dir),
        Port = 0, Parallel = 3, Context = 2048, Threads = 2,
    };
}

public class GrammarServerTests(GrammarServerFixture f) : IClassFixture<GrammarServerFixture>
{
    /// <summary>Nested, strict in OpenAI's sense (every property required, no others), bounded.</summary>
    private const string Schema = """
        {"type":"object","additionalProperties":false,"required":["title","year","rating","cast","studio"],
         "properties":{"title":{"type":"string","maxLength":16},"year":{"type":"integer","minimum":1900,"maximum":2030},
           "rating":{"type":"number","minimum":0,"maximum":10},
           "cast":{"type":"array","maxItems":3,"items":{"type":"object","additionalProperties":false,"required":["name","lead"],
             "properties":{"name":{"type":"string","maxLength":10},"lead":{"type":"boolean"}}}},
           "studio":{"anyOf":[{"$ref":"#/$defs/studio"},{"type":"null"}]}},
         "$defs":{"studio":{"type":"object","additionalProperties":false,"required":["name","country"],
           "properties":{"name":{"type":"string","maxLength":10},"country":{"enum":["US","UK","FR"]}}}}}
        """;

    private ChatClient Chat() => new(Path.GetFileNameWithoutExtension(f.Server.Host.Options.ModelPath), new ApiKeyCredential("unused"),
        new OpenAIClientOptions { Endpoint = new Uri(f.Server.Address!, "/v1"), NetworkTimeout = TimeSpan.FromSeconds(120) });

    private const string CityParams = """
        {"type":"object","additionalProperties":false,"required":["city","days"],
         "properties":{"city":{"type":"string","maxLength":12},"days":{"type":"integer","minimum":1,"maximum":7}}}
        """;

    /// <summary>
    /// tool_choice "required" and a named function on a model whose output is arbitrary: every answer is a call to an
    /// offered function whose arguments validate against its parameters schema (constrained decoding, not hope).
    /// </summary>
    [Fact]
    public async Task RequiredAndNamedToolChoicesAlwaysCallWithValidArguments()
    {
        var chat = Chat();
        var weather = ChatTool.CreateFunctionTool("get_weather", "Weather for a city", BinaryData.FromString(CityParams));
        var time = ChatTool.CreateFunctionTool("get_time", "Time in a city", BinaryData.FromString("""{"type":"object","properties":{"zone":{"enum":["UTC","CET"]}},"required":["zone"],"additionalProperties":false}"""));
        for (long seed = 1; seed <= 4; seed++)
        {
            var choice = seed % 2 == 0 ? ChatToolChoice.CreateRequiredChoice() : ChatToolChoice.CreateFunctionChoice("get_time");
            var options = new ChatCompletionOptions { Temperature = 1, Seed = seed, MaxOutputTokenCount = 1000, Tools = { weather, time }, ToolChoice = choice };
            ChatCompletion answer = await chat.CompleteChatAsync([new UserChatMessage("What now?")], options);
            Assert.True(answer.FinishReason == ChatFinishReason.ToolCalls, $"seed {seed}: {answer.FinishReason}: {string.Concat(answer.Content.Select(c => c.Text))}");
            Assert.NotEmpty(answer.ToolCalls);
            foreach (var call in answer.ToolCalls)
            {
                if (seed % 2 == 1) Assert.Equal("get_time", call.FunctionName);
                string schema = call.FunctionName == "get_weather" ? CityParams : """{"type":"object","properties":{"zone":{"enum":["UTC","CET"]}},"required":["zone"],"additionalProperties":false}""";
                Assert.Null(SchemaValidator.Validate(schema, call.FunctionArguments.ToString()));
            }
        }
    }

    /// <summary>The Responses API's text.format json_schema holds the output to the schema as chat's response_format does.</summary>
    [Fact]
    public async Task ResponsesTextFormatJsonSchemaValidates()
    {
        for (int seed = 1; seed <= 2; seed++)
        {
            string body = JsonSerializer.Serialize(new
            {
                model = Path.GetFileNameWithoutExtension(f.Server.Host.Options.ModelPath), input = "Describe a film.", temperature = 1, seed, max_output_tokens = 1200,
                text = new { format = new { type = "json_schema", name = "movie", strict = true, schema = JsonDocument.Parse(Schema).RootElement } },
            });
            using var r = await f.Http.PostAsync("/v1/responses", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            string text = await r.Content.ReadAsStringAsync();
            Assert.True(r.IsSuccessStatusCode, text);
            using var doc = JsonDocument.Parse(text);
            var item = doc.RootElement.GetProperty("output").EnumerateArray().Single(i => i.GetProperty("type").GetString() == "message");
            Assert.Null(SchemaValidator.Validate(Schema, item.GetProperty("content")[0].GetProperty("text").GetString()!));
        }
    }

    [Fact]
    public async Task OfficialClientStrictJsonSchemaAlwaysValidates()
    {
        var chat = Chat();
        for (long seed = 1; seed <= 4; seed++)
        {
            var options = new ChatCompletionOptions
            {
                Temperature = 1,
                Seed = seed,
                MaxOutputTokenCount = 1200,
                ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("movie", BinaryData.FromString(Schema), jsonSchemaIsStrict: true),
            };
            ChatCompletion answer = await chat.CompleteChatAsync([new UserChatMessage("Describe a film as JSON.")], options);
            Assert.Equal(ChatFinishReason.Stop, answer.FinishReason);
            Assert.Null(SchemaValidator.Validate(Schema, answer.Content[0].Text));
        }
    }

    [Fact]
    public async Task StreamedStructuredOutputValidatesToo()
    {
        var options = new ChatCompletionOptions
        {
            Temperature = 1,
            Seed = 9,
            MaxOutputTokenCount = 1200,
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("movie", BinaryData.FromString(Schema), jsonSchemaIsStrict: true),
        };
        var text = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (var update in Chat().CompleteChatStreamingAsync([new UserChatMessage("A film, please.")], options))
        {
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            finish ??= update.FinishReason;
        }
        Assert.Equal(ChatFinishReason.Stop, finish);
        Assert.Null(SchemaValidator.Validate(Schema, text.ToString()));
    }

    [Fact]
    public async Task JsonObjectModeGivesAnObject()
    {
        var options = new ChatCompletionOptions { Temperature = 1, Seed = 5, MaxOutputTokenCount = 1500, ResponseFormat = ChatResponseFormat.CreateJsonObjectFormat() };
        ChatCompletion answer = await Chat().CompleteChatAsync([new UserChatMessage("Any JSON object.")], options);
        string text = answer.Content[0].Text;
        if (answer.FinishReason == ChatFinishReason.Stop) Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(text).RootElement.ValueKind);
        else Assert.True(Strata.Grammar.Gbnf.Parse(Strata.Grammar.JsonSchemaGrammar.JsonObjectGbnf).IsPrefix(text), text);   // an unbounded object may run to the limit
    }

    [Fact]
    public async Task RawGrammarOnCompletionsAndChat()
    {
        string grammar = JsonSerializer.Serialize("root ::= (\"yes\" | \"no\") \" \" [0-9]{2} \"%\"");
        for (int seed = 0; seed < 3; seed++)
        {
            var (status, body) = await Post("/v1/completions", $$"""{"prompt":"Is it?","max_tokens":50,"temperature":1,"seed":{{seed}},"n":2,"grammar":{{grammar}}}""");
            Assert.Equal(200, status);
            foreach (var c in body.GetProperty("choices").EnumerateArray())
            {
                Assert.Matches("^(yes|no) [0-9]{2}%$", c.GetProperty("text").GetString());
                Assert.Equal("stop", c.GetProperty("finish_reason").GetString());
            }
            var (s2, chat) = await Post("/v1/chat/completions", $$"""{"messages":[{"role":"user","content":"Is it?"}],"max_tokens":50,"temperature":1,"seed":{{seed}},"grammar":{{grammar}}}""");
            Assert.Equal(200, s2);
            Assert.Matches("^(yes|no) [0-9]{2}%$", chat.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        }
    }

    [Fact]
    public async Task LlamaCppJsonSchemaFieldOnCompletions()
    {
        var (status, body) = await Post("/v1/completions", """{"prompt":"x","max_tokens":300,"temperature":1,"seed":4,"json_schema":{"type":"array","items":{"type":"integer","minimum":0,"maximum":9},"minItems":2,"maxItems":4}}""");
        Assert.Equal(200, status);
        var arr = JsonDocument.Parse(body.GetProperty("choices")[0].GetProperty("text").GetString()!).RootElement;
        Assert.InRange(arr.GetArrayLength(), 2, 4);
        Assert.All(arr.EnumerateArray(), x => Assert.InRange(x.GetInt32(), 0, 9));
    }

    [Theory]
    [InlineData("""{"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"a":{"type":"object","patternProperties":{"^x":{}}}}}}}}""",
        "response_format", "unsupported JSON Schema keyword 'patternProperties' at #/properties/a")]
    [InlineData("""{"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"string","format":"uri"}}}}""", "response_format", "unsupported JSON Schema format 'uri'")]
    [InlineData("""{"response_format":{"type":"yaml"}}""", "response_format", "Supported values are: 'text', 'json_object' and 'json_schema'")]
    [InlineData("""{"response_format":{"type":"json_schema"}}""", "response_format", "Missing required parameter: 'response_format.json_schema'")]
    [InlineData("""{"response_format":"json"}""", "response_format", "expected an object")]
    [InlineData("""{"grammar":"root ::= foo"}""", "grammar", "GBNF 1:10: undefined rule 'foo'")]
    [InlineData("""{"grammar":"root ::= (\"a\""}""", "grammar", "unbalanced parenthesis")]
    [InlineData("""{"grammar":"root ::= root \"a\""}""", "grammar", "left-recursive")]
    [InlineData("""{"grammar":12}""", "grammar", "expected a string of GBNF")]
    [InlineData("""{"json_schema":{"type":"object","not":{}}}""", "json_schema", "unsupported JSON Schema keyword 'not' at #")]
    [InlineData("""{"grammar":"root ::= \"a\"","response_format":{"type":"json_object"}}""", "grammar", "Give only one of")]
    public async Task BadSchemasAndGrammarsAre400sNamingTheProblem(string fields, string param, string message)
    {
        string body = fields[..^1] + ""","messages":[{"role":"user","content":"hi"}],"max_tokens":5}""";
        var (status, error) = await Post("/v1/chat/completions", body);
        Assert.Equal(400, status);
        var e = error.GetProperty("error");
        Assert.Equal("invalid_request_error", e.GetProperty("type").GetString());
        Assert.Equal(param, e.GetProperty("param").GetString());
        Assert.Contains(message, e.GetProperty("message").GetString());
    }

    [Fact]
    public async Task TextFormatIsFreeText()
    {
        var (status, body) = await Post("/v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}],"max_tokens":5,"temperature":0,"response_format":{"type":"text"}}""");
        Assert.Equal(200, status);
        Assert.Equal("length", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    private async Task<(int Status, JsonElement Body)> Post(string path, string json)
    {
        var (status, body, _) = await ServerFixture.Post(f.Http, path, json);
        return (status, body);
    }
}
