using System.Text;
using System.Text.Json;

namespace Strata.Chat.Tools;

/// <summary>
/// The grammar (GBNF text) that makes a model's answer a call in its family's syntax: to one of the offered
/// functions, with arguments that match that function's parameters schema; one call, or one or more when parallel
/// calls are allowed. tool_choice "required" and a named function are to be enforced with it.
/// </summary>
/// <remarks>
/// NOT WIRED YET. The arguments' rules come from the JSON-Schema compiler of the grammar work
/// (<c>JsonSchemaGrammar.ToGbnf(schema, rulePrefix)</c>, start rule <c>{prefix}root</c>), which is on another branch:
/// <see cref="Gbnf(ToolCallFormat, IReadOnlyList{ToolDefinition}, bool)"/> throws until it is called from
/// <see cref="SchemaRules"/>. Until then required and named calls are honoured by prompting and parsing only (see
/// the server's ChatTurn). Notes for wiring: Mistral's <c>[TOOL_CALLS]</c> and Llama's <c>&lt;|python_tag|&gt;</c> are
/// single special tokens, so the masking engine must let a literal match a special token's text; a thinking model
/// (Qwen3) would need an optional <c>&lt;think&gt;...&lt;/think&gt;</c> block allowed before the call.
/// </remarks>
public static class ToolCallGrammar
{
    /// <summary>The grammar for the offered tools in the family's syntax.</summary>
    public static string Gbnf(ToolCallFormat format, IReadOnlyList<ToolDefinition> tools, bool parallel) =>
        Gbnf(format, tools, parallel, SchemaRules);

    /// <summary>
    /// TODO(grammar merge): <c>return JsonSchemaGrammar.ToGbnf(schema, rulePrefix);</c> — the JSON-Schema compiler is
    /// not on this branch, so this refuses rather than pretend.
    /// </summary>
    private static string SchemaRules(JsonElement schema, string rulePrefix) =>
        throw new NotSupportedException("tool-call grammars need the JSON-Schema compiler (JsonSchemaGrammar.ToGbnf), which is not merged yet");

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
        if (parallel) sb.Append(" ( ").Append(Literal(separator)).Append(" call )*");
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
