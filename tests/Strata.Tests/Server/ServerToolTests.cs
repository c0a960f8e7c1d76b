using System.Text.Json;

namespace Strata.Tests.Server;

[Collection("ToolServer")]
public class ServerToolTests(ToolServerFixture f)
{
    private const string Tools = """[{"type":"function","function":{"name":"get_weather","description":"Weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]""";

    [Fact]
    public async Task Probe()
    {
        var (s1, b1, _) = await f.Post("/v1/chat/completions", $$$"""{"messages":[{"role":"user","content":"Weather in Paris?"}],"tools":{{{Tools}}},"temperature":0}""");
        File.WriteAllText("/tmp/probe/1.json", b1.GetRawText());
        var (s2, b2, _) = await f.Post("/v1/chat/completions", $$$"""{"messages":[{"role":"user","content":"Weather in Paris?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"sunny"}],"tools":{{{Tools}}}}""");
        File.WriteAllText("/tmp/probe/2.json", b2.GetRawText());
        var (s3, b3, _) = await f.Post("/v1/chat/completions", $$$"""{"messages":[{"role":"user","content":"Weather in Paris?"}],"tools":{{{Tools}}},"tool_choice":"none"}""");
        File.WriteAllText("/tmp/probe/3.json", b3.GetRawText());
        Assert.Equal(200, s1 + s2 + s3 - 400);
    }
}
