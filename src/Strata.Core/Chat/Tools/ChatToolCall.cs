using System.Security.Cryptography;
using System.Text.Json;

namespace Strata.Chat.Tools;

/// <summary>A function call: its id, the function's name and the arguments as JSON text (an object).</summary>
public sealed record ChatToolCall(string Id, string Name, string Arguments)
{
    /// <summary>OpenAI's style of call id: "call_" and 24 random letters and digits.</summary>
    public static string NewId() => "call_" + RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 24);
}

/// <summary>
/// A function the model may call: name, description and the JSON Schema of its parameters (an object schema, or
/// absent for a function without parameters).
/// </summary>
public sealed record ToolDefinition(string Name, string? Description, JsonElement? Parameters)
{
    /// <summary>
    /// The tool as Hugging Face's apply_chat_template passes it in <c>tools</c>:
    /// <c>{"type": "function", "function": {"name", "description", "parameters"}}</c> (absent parts left out).
    /// </summary>
    public OrderedDictionary<string, object?> ToTemplateValue()
    {
        // Ordered: templates print tools with tojson, and key order is part of the prompt.
        var function = new OrderedDictionary<string, object?> { ["name"] = Name };
        if (Description is not null) function["description"] = Description;
        if (Parameters is { } p) function["parameters"] = p;
        return new OrderedDictionary<string, object?> { ["type"] = "function", ["function"] = function };
    }

    /// <summary>OpenAI's rule for function names (Anthropic's is the same): 1 to 64 of a-z, A-Z, 0-9, _ and -.</summary>
    public static bool IsValidName(string name) =>
        name.Length is > 0 and <= 64 && name.All(c => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' or '-');
}
