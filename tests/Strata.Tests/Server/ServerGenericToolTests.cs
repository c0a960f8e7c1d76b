using Strata.Chat;
using Strata.Chat.Tools;

namespace Strata.Tests.Server;

/// <summary>The shipped tiny model's template knows no tools: they are described in the system turn instead (the generic format).</summary>
[Collection("Server")]
public class ServerGenericToolTests(ServerFixture f)
{
    [Fact]
    public async Task ToolsForATemplateWithoutToolsAreDescribedInTheSystemTurn()
    {
        const string tools = """[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]""";
        var (status, body, _) = await f.Post("/v1/chat/completions", $$$"""{"messages":[{"role":"user","content":"Psalms 23:1"}],"tools":{{{tools}}},"max_tokens":4}""");
        Assert.Equal(200, status);
        Assert.Equal(ToolCallFormat.Generic, f.Server.Host.ChatFormat.Tools);
        var tool = new ToolDefinition("get_weather", null, System.Text.Json.JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string"}}}""").RootElement);
        var expected = ChatPrompt.Render(f.Model, f.Server.Host.Template, [new ChatMessage("user", "Psalms 23:1")], new ChatRenderOptions { Tools = [tool] });
        Assert.Contains("You can call these functions:\n{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"", expected.Text);
        Assert.Contains("{\"tool_calls\": [{\"name\": <function name>, \"arguments\": <arguments object>}]}", expected.Text);
        Assert.Equal(expected.Tokens.Length, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        // The tiny model writes scripture, not JSON: its answer is content.
        var choice = body.GetProperty("choices")[0];
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.False(string.IsNullOrEmpty(choice.GetProperty("message").GetProperty("content").GetString()));
    }
}
