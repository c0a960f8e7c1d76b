using System.Text.Json;
using Strata.Chat.Tools;

namespace Strata.Server.Api;

/// <summary>Checks shared by the APIs' function definitions and template variables.</summary>
public static class ToolFields
{
    /// <summary>A function definition: a valid name, an optional description, parameters an object schema when given.</summary>
    public static ToolDefinition Definition(JsonElement? name, JsonElement? description, JsonElement? parameters, string at, string parametersField = "parameters")
    {
        if (name is not { ValueKind: JsonValueKind.String } n) throw ApiException.Invalid($"Missing or invalid '{at}.name'.", $"{at}.name", "missing_required_parameter");
        string value = n.GetString()!;
        if (!ToolDefinition.IsValidName(value))
            throw ApiException.Invalid($"Invalid '{at}.name': '{value}' does not match '^[a-zA-Z0-9_-]{{1,64}}$'.", $"{at}.name", "invalid_value");
        if (description is { } d && d.ValueKind != JsonValueKind.String) throw JsonBody.WrongType($"{at}.description", "a string", d);
        if (parameters is { } p && p.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType($"{at}.{parametersField}", "an object (a JSON Schema)", p);
        // Cloned: the definition outlives nothing, but must not depend on the request document's lifetime.
        return new ToolDefinition(value, description?.GetString(), parameters?.Clone());
    }

    /// <summary>Names must be unique: a call names its function.</summary>
    public static void CheckUnique(IReadOnlyList<ToolDefinition> tools, string param)
    {
        var seen = new HashSet<string>();
        foreach (var t in tools)
            if (!seen.Add(t.Name)) throw ApiException.Invalid($"Invalid '{param}': the function name '{t.Name}' appears twice.", param, "invalid_value");
    }

    private static readonly HashSet<string> Reserved = ["messages", "tools", "add_generation_prompt", "bos_token", "eos_token"];

    /// <summary>chat_template_kwargs: an object whose entries become template variables (enable_thinking, ...).</summary>
    public static IReadOnlyDictionary<string, object?>? TemplateVariables(JsonElement? v, string param)
    {
        if (v is not { } o) return null;
        if (o.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType(param, "an object", o);
        var vars = new Dictionary<string, object?>();
        foreach (var p in o.EnumerateObject())
        {
            if (Reserved.Contains(p.Name)) throw ApiException.Invalid($"Invalid '{param}': '{p.Name}' is set by the server and cannot be overridden.", $"{param}.{p.Name}", "invalid_value");
            vars[p.Name] = p.Value.Clone();
        }
        return vars;
    }

    /// <summary>Whether the function call arguments a client sent back are a JSON object (templates render them as one).</summary>
    public static string Arguments(JsonElement? v, string at)
    {
        if (v is null) return "{}";
        if (v.Value.ValueKind == JsonValueKind.Object) return v.Value.GetRawText();
        if (v.Value.ValueKind != JsonValueKind.String) throw JsonBody.WrongType(at, "a string of JSON", v.Value);
        return v.Value.GetString()!;
    }
}
