using System.Text.Json;
using Strata.Chat;
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

    /// <summary>
    /// OpenAI's <c>tools</c>: an array of <c>{"type": "function", …}</c>, at most <paramref name="max"/>. Chat nests the
    /// function's fields under <c>function</c>; the Responses API puts them beside <c>type</c> (<paramref name="nested"/> false).
    /// </summary>
    public static List<ToolDefinition> FunctionList(JsonElement? v, int max, bool nested)
    {
        if (v is not { } a) return [];
        if (a.ValueKind != JsonValueKind.Array) throw JsonBody.WrongType("tools", "an array", a);
        if (a.GetArrayLength() > max) throw JsonBody.OutOfRange("tools", $"with at most {max} tools", $"{a.GetArrayLength()}");
        var list = new List<ToolDefinition>();
        int i = 0;
        foreach (var t in a.EnumerateArray())
        {
            string at = $"tools[{i++}]";
            if (t.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType(at, "an object", t);
            string? type = JsonBody.Get(t, "type") is { ValueKind: JsonValueKind.String } ty ? ty.GetString() : null;
            if (type != "function")
                throw ApiException.Invalid($"Tools of type '{type ?? "(none)"}' are not supported: only 'function' tools are.", $"{at}.type", "unsupported_value");
            var f = t;
            if (nested)
            {
                if (JsonBody.Get(t, "function") is not { ValueKind: JsonValueKind.Object } inner)
                    throw ApiException.Invalid($"Missing or invalid '{at}.function'.", $"{at}.function", "missing_required_parameter");
                (f, at) = (inner, $"{at}.function");
            }
            list.Add(Definition(JsonBody.Get(f, "name"), JsonBody.Get(f, "description"), JsonBody.Get(f, "parameters"), at));
        }
        CheckUnique(list, "tools");
        return list;
    }

    /// <summary>
    /// OpenAI's <c>tool_choice</c>: "auto", "none", "required", or a function: <c>{"type": "function", "function":
    /// {"name": …}}</c> in chat (<paramref name="nested"/>), <c>{"type": "function", "name": …}</c> in the Responses API.
    /// </summary>
    public static ToolChoice Choice(JsonElement? v, bool haveTools, bool nested)
    {
        if (v is not { } c) return haveTools ? ToolChoice.Auto : ToolChoice.None;
        if (c.ValueKind == JsonValueKind.String)
            return c.GetString() switch
            {
                "auto" => ToolChoice.Auto,
                "none" => ToolChoice.None,
                "required" => ToolChoice.Required,
                var s => throw ApiException.Invalid($"Invalid value: '{s}'. Supported values are: 'none', 'auto' and 'required'.", "tool_choice", "invalid_value"),
            };
        if (c.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType("tool_choice", "a string or an object", c);
        string? type = JsonBody.Get(c, "type") is { ValueKind: JsonValueKind.String } t ? t.GetString() : null;
        if (type != "function")
            throw ApiException.Invalid($"tool_choice of type '{type ?? "(none)"}' is not supported: use 'auto', 'none', 'required' or a function.", "tool_choice.type", "unsupported_value");
        var holder = nested ? JsonBody.Get(c, "function") : c;
        string path = nested ? "tool_choice.function.name" : "tool_choice.name";
        if (holder is not { ValueKind: JsonValueKind.Object } h || JsonBody.Get(h, "name") is not { ValueKind: JsonValueKind.String } n)
            throw ApiException.Invalid($"Missing required parameter: '{path}'.", path, "missing_required_parameter");
        return new ToolChoice(ToolChoiceMode.Function, n.GetString());
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
