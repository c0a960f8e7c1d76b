using System.Text.Json;
using Strata.Chat.Tools;

namespace Strata.Tests.Chat;

/// <summary>
/// The tool-call grammars: the family's syntax around each function's arguments rule, the arguments' rules from the
/// JSON-Schema compiler.
/// </summary>
public class ToolCallGrammarTests
{
    private static readonly ToolDefinition[] Tools =
    [
        new("get_weather", null, JsonDocument.Parse("""{"type":"object"}""").RootElement),
        new("get_time", null, null),
    ];

    private static string Stub(JsonElement _, string prefix) => $"{prefix}root ::= \"{{}}\"";

    [Fact]
    public void HermesFrameWithParallelCalls()
    {
        string g = ToolCallGrammar.Gbnf(ToolCallFormat.Hermes, Tools, parallel: true, Stub);
        Assert.Equal(
            "root ::= \"<tool_call>\\n\" call ( \"\\n</tool_call>\\n<tool_call>\\n\" call ){0,7} \"\\n</tool_call>\"\n" +
            "call ::= t0-call | t1-call\n" +
            "t0-call ::= \"{\\\"name\\\": \\\"get_weather\\\", \\\"arguments\\\": \" t0-root \"}\"\n" +
            "t0-root ::= \"{}\"\n" +
            "t1-call ::= \"{\\\"name\\\": \\\"get_time\\\", \\\"arguments\\\": \" t1-root \"}\"\n" +
            "t1-root ::= \"{}\"\n", g);
    }

    [Fact]
    public void OtherFamiliesFrames()
    {
        Assert.StartsWith("root ::= call\n", ToolCallGrammar.Gbnf(ToolCallFormat.Llama3, Tools, parallel: false, Stub));
        Assert.Contains("\\\"parameters\\\": ", ToolCallGrammar.Gbnf(ToolCallFormat.Llama3, Tools, parallel: false, Stub));
        Assert.StartsWith("root ::= \"[TOOL_CALLS] [\" call ( \", \" call ){0,7} \"]\"\n", ToolCallGrammar.Gbnf(ToolCallFormat.Mistral, Tools, parallel: true, Stub));
        Assert.StartsWith("root ::= \"{\\\"tool_calls\\\": [\" call \"]}\"\n", ToolCallGrammar.Gbnf(ToolCallFormat.Generic, Tools, parallel: false, Stub));
    }

    [Fact]
    public void CompiledGrammarAcceptsCallsThatMatchTheSchemaOnly()
    {
        ToolDefinition[] tools =
        [
            new("get_weather", null, JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}""").RootElement),
            new("get_time", null, null),
        ];
        var g = Strata.Grammar.Gbnf.Parse(ToolCallGrammar.Gbnf(ToolCallFormat.Hermes, tools, parallel: true));
        Assert.True(g.Matches("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"));
        Assert.True(g.Matches("<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"\"}}\n</tool_call>"));
        Assert.False(g.Matches("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"town\": \"Paris\"}}\n</tool_call>"));
        Assert.False(g.Matches("<tool_call>\n{\"name\": \"get_news\", \"arguments\": {}}\n</tool_call>"));
        Assert.False(g.Matches("Sure! <tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"));
    }
}
