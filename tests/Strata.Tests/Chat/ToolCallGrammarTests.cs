using System.Text.Json;
using Strata.Chat.Tools;

namespace Strata.Tests.Chat;

/// <summary>
/// The frame of the tool-call grammars (the family's syntax around each function's arguments rule). The arguments'
/// rules come from the JSON-Schema compiler, which is not merged yet: until then the public entry point refuses.
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
            "root ::= \"<tool_call>\\n\" call ( \"\\n</tool_call>\\n<tool_call>\\n\" call )* \"\\n</tool_call>\"\n" +
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
        Assert.StartsWith("root ::= \"[TOOL_CALLS] [\" call ( \", \" call )* \"]\"\n", ToolCallGrammar.Gbnf(ToolCallFormat.Mistral, Tools, parallel: true, Stub));
        Assert.StartsWith("root ::= \"{\\\"tool_calls\\\": [\" call \"]}\"\n", ToolCallGrammar.Gbnf(ToolCallFormat.Generic, Tools, parallel: false, Stub));
    }

    [Fact]
    public void NotAvailableUntilTheSchemaCompilerIsMerged() =>
        Assert.Throws<NotSupportedException>(() => ToolCallGrammar.Gbnf(ToolCallFormat.Hermes, Tools, parallel: false));
}
