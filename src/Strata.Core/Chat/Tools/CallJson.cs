using System.Text.Json;

namespace Strata.Chat.Tools;

/// <summary>A call as the model wrote it: the function's name and its arguments as JSON object text.</summary>
public readonly record struct ParsedCall(string Name, string Arguments);

/// <summary>
/// Reads calls from the JSON a model wrote. The families agree on a call object with "name" and the arguments under
/// "arguments" (Hermes, Qwen, Mistral) or "parameters" (Llama 3); this accepts either everywhere, the arguments as an
/// object or as a string holding one, a call wrapped as <c>{"type": "function", "function": {...}}</c>, and the
/// generic format's <c>{"tool_calls": [...]}</c> / <c>{"tool_call": {...}}</c>. Anything else is not a call.
/// </summary>
internal static class CallJson
{
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 64 };

    /// <summary>All the calls in a JSON object or array, or null when the text is not JSON or not only calls.</summary>
    public static List<ParsedCall>? TryRead(string json, IReadOnlySet<string>? allowed)
    {
        try
        {
            using var doc = JsonDocument.Parse(json, Options);
            var calls = new List<ParsedCall>();
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in root.EnumerateArray())
                    if (!TryCall(item, allowed, calls)) return null;
            }
            else if (root.ValueKind == JsonValueKind.Object && Get(root, "tool_calls") is { ValueKind: JsonValueKind.Array } list)
            {
                foreach (var item in list.EnumerateArray())
                    if (!TryCall(item, allowed, calls)) return null;
            }
            else if (root.ValueKind == JsonValueKind.Object && Get(root, "tool_call") is { ValueKind: JsonValueKind.Object } one)
            {
                if (!TryCall(one, allowed, calls)) return null;
            }
            else if (!TryCall(root, allowed, calls)) return null;
            return calls.Count > 0 ? calls : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static bool TryCall(JsonElement o, IReadOnlySet<string>? allowed, List<ParsedCall> into)
    {
        if (o.ValueKind != JsonValueKind.Object) return false;
        if (Get(o, "function") is { ValueKind: JsonValueKind.Object } inner && Get(o, "name") is null) o = inner;
        if (Get(o, "name") is not { ValueKind: JsonValueKind.String } n || n.GetString() is not { Length: > 0 } name) return false;
        if (allowed is not null && !allowed.Contains(name)) return false;
        var args = Get(o, "arguments") ?? Get(o, "parameters");
        string arguments;
        if (args is null) arguments = "{}";
        else if (args.Value.ValueKind == JsonValueKind.Object) arguments = args.Value.GetRawText();
        else if (args.Value.ValueKind == JsonValueKind.String && IsObject(args.Value.GetString()!)) arguments = args.Value.GetString()!.Trim();
        else return false;
        into.Add(new ParsedCall(name, arguments));
        return true;
    }

    private static bool IsObject(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text, Options);
            return doc.RootElement.ValueKind == JsonValueKind.Object;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static JsonElement? Get(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;
}
