using System.Text;
using System.Text.Json;

namespace Strata.Chat.Tools;

/// <summary>
/// The grammar (GBNF text) that makes a model's answer a call in its family's syntax: to one of the offered
/// functions, with arguments that match that function's parameters schema; one call, or one or more when parallel
/// calls are allowed. tool_choice "required" and a named function are to be enforced with it.
/// </summary>
/// <remarks>
/// Mistral's <c>[TOOL_CALLS]</c> is a control token: compile the grammar with the format's shown control tokens
/// (<c>TokenGrammar.Get(..., controlsAsText)</c>) so that the literal can be that token. A thinking model (Qwen3) is
/// made to call at once, with no think block before the call.
/// </remarks>
public static class ToolCallGrammar
{
    /// <summary>Most calls one enforced answer may hold.</summary>
    public const int MaxParallelCalls = 8;

    /// <summary>The grammar for the offered tools in the family's syntax.</summary>
    public static string Gbnf(ToolCallFormat format, IReadOnlyList<ToolDefinition> tools, bool parallel) =>
        Gbnf(format, tools, parallel, SchemaRules);

    /// <summary>A function's parameters schema as GBNF rules starting at <c>{prefix}root</c>.</summary>
    private static string SchemaRules(JsonElement schema, string rulePrefix) => Strata.Grammar.JsonSchemaGrammar.ToGbnf(schema, rulePrefix);

    /// <summary>
    /// The grammar, with the arguments' rules from <paramref name="schemaRules"/> (schema, rule prefix) → GBNF rules
    /// whose start rule is <c>{prefix}root</c>.
    /// </summary>
    internal static string Gbnf(ToolCallFormat format, IReadOnlyList<ToolDefinition> tools, bool parallel, Func<JsonElement, string, string> schemaRules)
    {
        if (tools.Count == 0) throw new ArgumentException("a tool-call grammar needs at least one tool", nameof(tools));
        var sb = new StringBuilder();
        // The JSON text before a function's arguments object, in the family's key order and spacing.
        string argumentsKey = format == ToolCallFormat.Llama3 ? "parameters" : "arguments";
        (string open, string separator, string close) = format switch
        {
            ToolCallFormat.Hermes => ("<tool_call>\n", "\n</tool_call>\n<tool_call>\n", "\n</tool_call>"),
            ToolCallFormat.Llama3 => ("", "; ", ""),
            ToolCallFormat.Mistral => ("[TOOL_CALLS] [", ", ", "]"),
            _ => ("{\"tool_calls\": [", ", ", "]}"),
        };
        sb.Append("root ::= ");
        if (open.Length > 0) sb.Append(Literal(open)).Append(' ');
        sb.Append("call");
        // Parallel calls are bounded, so that a model which never stops calling still ends within max_tokens.
        if (parallel) sb.Append(" ( ").Append(Literal(separator)).Append(" call ){0,").Append(MaxParallelCalls - 1).Append('}');
        if (close.Length > 0) sb.Append(' ').Append(Literal(close));
        sb.Append('\n');
        sb.Append("call ::= ").Append(string.Join(" | ", tools.Select((_, i) => $"t{i}-call"))).Append('\n');
        for (int i = 0; i < tools.Count; i++)
        {
            string prefix = $"t{i}-";
            string head = $"{{\"name\": {JsonSerializer.Serialize(tools[i].Name)}, \"{argumentsKey}\": ";
            sb.Append(prefix).Append("call ::= ").Append(Literal(head)).Append(' ').Append(prefix).Append("root ").Append(Literal("}")).Append('\n');
            if (tools[i].Parameters is { } schema) sb.Append(schemaRules(schema, prefix).TrimEnd()).Append('\n');
            else sb.Append(prefix).Append("root ::= \"{}\"\n");
        }
        return sb.ToString();
    }

    /// <summary>A GBNF string literal.</summary>
    private static string Literal(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in s)
            sb.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ => c.ToString(),
            });
        return sb.Append('"').ToString();
    }
}
