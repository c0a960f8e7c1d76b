using System.Text;
using System.Text.Json;

namespace Strata.Chat.Tools;

/// <summary>
/// What Strata adds to the conversation itself: the tools, for templates that do not render them (the generic
/// format), and the instruction that a call is required.
/// </summary>
public static class ToolPrompt
{
    private static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The generic format's description of the tools and of how to call them.</summary>
    public static string DescribeGeneric(IReadOnlyList<ToolDefinition> tools)
    {
        var sb = new StringBuilder();
        sb.Append("You can call these functions:\n");
        foreach (var t in tools) sb.Append(JsonSerializer.Serialize(t.ToTemplateValue(), Json)).Append('\n');
        sb.Append("\nTo call functions, answer with only a JSON object, nothing before or after it: ")
          .Append("{\"tool_calls\": [{\"name\": <function name>, \"arguments\": <arguments object>}]}");
        return sb.ToString();
    }

    /// <summary>The instruction for tool_choice "required" (<paramref name="name"/> null) or a named function.</summary>
    public static string Requirement(string? name) =>
        name is null ? "You must answer by calling one or more of the functions." : $"You must answer by calling the function {name}.";

    /// <summary>The conversation with <paramref name="text"/> appended to its system turn (one is added first when it has none).</summary>
    public static List<ChatMessage> AddToSystem(IReadOnlyList<ChatMessage> messages, string text)
    {
        var list = messages.ToList();
        if (list.Count > 0 && list[0].Role == "system")
            list[0] = list[0] with { Content = list[0].Content.Length == 0 ? text : list[0].Content + "\n\n" + text };
        else list.Insert(0, new ChatMessage("system", text));
        return list;
    }
}
