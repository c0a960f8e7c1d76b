using System.Text;
using System.Text.Json;
using Strata.Chat;
using Strata.Chat.Tools;

namespace Strata.Server.Api;

/// <summary>
/// The conversation of a /v1/chat/completions request: messages (system, developer, user, assistant with tool_calls,
/// tool with tool_call_id), tools, tool_choice, parallel_tool_calls and chat_template_kwargs, each checked with
/// OpenAI's errors.
/// </summary>
public static class ChatRequestReader
{
    private static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant", "tool"];

    public static ChatConversation Read(JsonBody b, int maxMessages, int maxTools)
    {
        var tools = ToolFields.FunctionList(b.Get("tools"), maxTools, nested: true);
        var c = new ChatConversation
        {
            Messages = Messages(b, maxMessages),
            Tools = tools,
            ToolChoice = ToolFields.Choice(b.Get("tool_choice"), tools.Count > 0, nested: true),
            ParallelToolCalls = b.Bool("parallel_tool_calls") ?? true,
            TemplateVariables = ToolFields.TemplateVariables(b.Get("chat_template_kwargs"), "chat_template_kwargs"),
        };
        c.CheckToolChoice("tool_choice");
        return c;
    }

    /// <summary>messages: 1 to the limit, each with a known role and string or text-part content.</summary>
    private static List<ChatMessage> Messages(JsonBody b, int max)
    {
        if (b.Get("messages") is not { } v) throw ApiException.Invalid("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
        if (v.ValueKind != JsonValueKind.Array) throw JsonBody.WrongType("messages", "an array", v);
        int count = v.GetArrayLength();
        if (count == 0) throw ApiException.Invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "messages", "empty_array");
        if (count > max) throw JsonBody.OutOfRange("messages", $"with at most {max} messages", $"{count}");
        var list = new List<ChatMessage>(count);
        var callNames = new Dictionary<string, string>();
        int i = 0;
        foreach (var m in v.EnumerateArray())
        {
            string at = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType(at, "an object", m);
            if (JsonBody.Get(m, "role") is not { ValueKind: JsonValueKind.String } r)
                throw ApiException.Invalid($"Missing or invalid '{at}.role'.", $"{at}.role");
            string role = r.GetString()!;
            if (!Roles.Contains(role))
                throw ApiException.Invalid($"Invalid value: '{role}'. Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'.", $"{at}.role", "invalid_value");
            List<ChatToolCall>? calls = role == "assistant" ? ToolCalls(JsonBody.Get(m, "tool_calls"), $"{at}.tool_calls") : null;
            string content = Content(JsonBody.Get(m, "content"), $"{at}.content", allowNull: role == "assistant");
            if (calls is not null)
                foreach (var call in calls) callNames[call.Id] = call.Name;
            var message = new ChatMessage(role == "developer" ? "system" : role, content) { ToolCalls = calls }; // chat templates know "system"
            if (role == "tool")
            {
                if (JsonBody.Get(m, "tool_call_id") is not { ValueKind: JsonValueKind.String } id)
                    throw ApiException.Invalid($"Missing required parameter: '{at}.tool_call_id'.", $"{at}.tool_call_id", "missing_required_parameter");
                message = message with { ToolCallId = id.GetString(), Name = callNames.GetValueOrDefault(id.GetString()!) };
            }
            if (role == "assistant" && (JsonBody.Get(m, "reasoning_content") ?? JsonBody.Get(m, "reasoning")) is { } reasoning)
            {
                if (reasoning.ValueKind != JsonValueKind.String) throw JsonBody.WrongType($"{at}.reasoning_content", "a string", reasoning);
                message = message with { ReasoningContent = reasoning.GetString() };
            }
            list.Add(message);
        }
        return list;
    }

    /// <summary>An assistant message's tool_calls: [{"id", "type": "function", "function": {"name", "arguments"}}].</summary>
    private static List<ChatToolCall>? ToolCalls(JsonElement? v, string param)
    {
        if (v is not { } a) return null;
        if (a.ValueKind != JsonValueKind.Array) throw JsonBody.WrongType(param, "an array", a);
        if (a.GetArrayLength() == 0) return null;
        var calls = new List<ChatToolCall>();
        int k = 0;
        foreach (var c in a.EnumerateArray())
        {
            string at = $"{param}[{k++}]";
            if (c.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType(at, "an object", c);
            if (JsonBody.Get(c, "id") is not { ValueKind: JsonValueKind.String } id)
                throw ApiException.Invalid($"Missing required parameter: '{at}.id'.", $"{at}.id", "missing_required_parameter");
            if (JsonBody.Get(c, "function") is not { ValueKind: JsonValueKind.Object } f || JsonBody.Get(f, "name") is not { ValueKind: JsonValueKind.String } name)
                throw ApiException.Invalid($"Missing required parameter: '{at}.function.name'.", $"{at}.function.name", "missing_required_parameter");
            calls.Add(new ChatToolCall(id.GetString()!, name.GetString()!, ToolFields.Arguments(JsonBody.Get(f, "arguments"), $"{at}.function.arguments")));
        }
        return calls;
    }

    private static string Content(JsonElement? content, string param, bool allowNull)
    {
        if (content is not { } c)
        {
            if (allowNull) return "";
            throw ApiException.Invalid($"Missing required parameter: '{param}'.", param, "missing_required_parameter");
        }
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
        if (c.ValueKind != JsonValueKind.Array) throw JsonBody.WrongType(param, "a string or an array of content parts", c);
        var text = new StringBuilder();
        int k = 0;
        foreach (var part in c.EnumerateArray())
        {
            string at = $"{param}[{k++}]";
            if (part.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType(at, "an object", part);
            string? type = JsonBody.Get(part, "type") is { ValueKind: JsonValueKind.String } t ? t.GetString() : null;
            if (type != "text")
                throw ApiException.Invalid($"Content parts of type '{type ?? "(none)"}' are not supported: this model reads text only.", $"{at}.type", "unsupported_content");
            if (JsonBody.Get(part, "text") is not { ValueKind: JsonValueKind.String } s) throw ApiException.Invalid($"Missing or invalid '{at}.text'.", $"{at}.text");
            text.Append(s.GetString());
        }
        return text.ToString();
    }
}
