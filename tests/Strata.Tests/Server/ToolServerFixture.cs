using Strata.Server.Hosting;
using Strata.Tests.Support;

namespace Strata.Tests.Server;

/// <summary>
/// A real server on a <see cref="ScriptModel"/> with a Qwen2.5-style tool template: asked anything, it calls
/// get_weather(city: "Paris"); once the conversation holds a tool result, it answers "It is sunny in Paris.".
/// </summary>
public sealed class ToolServerFixture : LoopbackServer
{
    public const string Answer = "It is sunny in Paris.";
    public const string CallArguments = """{"city": "Paris"}""";

    public static ScriptModel Script => new(
        File.ReadAllText(Path.Combine(Strata.Tests.DefaultModel.DefaultModelTests.RepoRoot(), "tests", "Strata.Tests", "Chat", "Templates", "qwen2.5.jinja")),
        ["<tool_call>", "\n{\"name\": \"get_weather\", ", "\"arguments\": {\"city\": ", "\"Paris\"}}\n", "</tool_call>"],
        ["It is", " sunny", " in Paris."],
        "<tool_response>");

    protected override StrataServerOptions Options(string dir) =>
        new() { ModelPath = Script.Write(dir), Port = 0, Parallel = 2, Context = 2048, Threads = 2 };

    public Task<(int Status, System.Text.Json.JsonElement Body, HttpResponseMessage Response)> Post(string path, string json) => ServerFixture.Post(Http, path, json);
}

[CollectionDefinition("ToolServer")]
public sealed class ToolServerCollection : ICollectionFixture<ToolServerFixture>;
