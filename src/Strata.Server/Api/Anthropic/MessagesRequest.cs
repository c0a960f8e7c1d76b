using System.Text;
using System.Text.Json;
using Strata.Chat;
using Strata.Chat.Tools;
using Strata.Server.Hosting;

namespace Strata.Server.Api.Anthropic;

/// <summary>An Anthropic Messages request in the engine's terms.</summary>
/// <param name="Thinking">The request enabled extended thinking: the model's reasoning comes back as thinking blocks.</param>
public sealed record MessagesRequest(ChatConversation Conversation, GenerationFields Fields, bool Thinking);

/// <summary>
/// Reads Anthropic's /v1/messages body: <c>system</c> (a string or text blocks), <c>messages</c> whose content is a
/// string or blocks (text, tool_use, tool_result, thinking), <c>max_tokens</c> (required), <c>stop_sequences</c>,
/// <c>temperature</c> (0–1), <c>top_p</c>, <c>top_k</c>, <c>tools</c> (name, description, input_schema),
/// <c>tool_choice</c> (auto, any, tool, none), <c>thinking</c>, <c>metadata.user_id</c>, <c>stream</c>.
/// </summary>
public static class MessagesRequestReader
{
    /// <param name="countOnly">/v1/messages/count_tokens: no max_tokens, no sampling.</param>
    public static MessagesRequest Read(JsonBody b, ModelHost host, string fairnessKey, bool countOnly)
    {
        var limits = host.Options.Limits;
        // Structured output would change what the answer is; until constrained decoding is wired it is refused, not ignored.
        if (b.Get("output_format") is not null || (b.Get("output_config") is { ValueKind: JsonValueKind.Object } oc && JsonBody.Get(oc, "format") is not null))
            throw ApiException.Invalid("Structured output (output_format / output_config.format) is not yet supported by this server.", "output_config", "unsupported_parameter");
        var tools = Tools(b.Get("tools"), limits.MaxTools);
        var (choice, parallel) = Choice(b.Get("tool_choice"), tools.Count > 0);
        bool? thinking = Thinking(b.Get("thinking"));
        var messages = new List<ChatMessage>();
        if (System(b.Get("system")) is { Length: > 0 } system) messages.Add(new ChatMessage("system", system));
        messages.AddRange(Messages(b.Get("messages"), limits.MaxMessages));
        var conversation = new ChatConversation
        {
            Messages = messages,
            Tools = tools,
            ToolChoice = choice,
            ParallelToolCalls = parallel,
            // Extended thinking on or off is Qwen3's enable_thinking; left out, the template's default stands.
            TemplateVariables = thinking is { } t ? new Dictionary<string, object?> { ["enable_thinking"] = t } : null,
        };
        conversation.CheckToolChoice("tool_choice");
        if (countOnly) return new MessagesRequest(conversation, GenerationFields.Simple(host, fairnessKey, 1, 1, null, null, [], false, null), false);

        long? max = b.Integer("max_tokens", 1, int.MaxValue);
        if (max is null) throw ApiException.Invalid("max_tokens: Field required", "max_tokens", "missing_required_parameter");
        string? user = null;
        if (b.Get("metadata") is { } meta)
        {
            if (meta.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType("metadata", "an object", meta);
            if (JsonBody.Get(meta, "user_id") is { } u)
                user = u.ValueKind == JsonValueKind.String ? u.GetString() : throw JsonBody.WrongType("metadata.user_id", "a string", u);
        }
        var fields = GenerationFields.Simple(host, fairnessKey,
            temperature: b.Number("temperature", 0, 1) ?? 1,
            topP: b.Number("top_p", 0, 1) ?? 1,
            topK: b.Integer("top_k", 0, int.MaxValue) is { } k ? (int)k : null,
            maxTokens: (int)max.Value,
            stops: GenerationFields.StopList(b.Get("stop_sequences"), "stop_sequences", limits.MaxStopStrings),
            stream: b.Bool("stream") ?? false,
            user: user);
        return new MessagesRequest(conversation, fields, thinking == true);
    }

    private static string? System(JsonElement? v)
    {
        if (v is not { } s) return null;
        if (s.ValueKind == JsonValueKind.String) return s.GetString();
        if (s.ValueKind != JsonValueKind.Array) throw JsonBody.WrongType("system", "a string or an array of text blocks", s);
        return Texts(s, "system", allowOther: false);
    }

    /// <summary>The text of text blocks, joined; other blocks refused unless allowed (then skipped by the caller).</summary>
    private static string Texts(JsonElement blocks, string param, bool allowOther)
    {
        var sb = new StringBuilder();
        int i = 0;
        foreach (var block in blocks.EnumerateArray())
        {
            string at = $"{param}.{i++}";
            string type = BlockType(block, at);
            if (type == "text") sb.Append(Text(block, at));
            else if (!allowOther) throw Unsupported(type, at);
        }
        return sb.ToString();
    }

    private static string BlockType(JsonElement block, string at)
    {
        if (block.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType(at, "an object (a content block)", block);
        return JsonBody.Get(block, "type") is { ValueKind: JsonValueKind.String } t ? t.GetString()! : throw ApiException.Invalid($"{at}.type: Field required", $"{at}.type");
    }

    private static string Text(JsonElement block, string at) =>
        JsonBody.Get(block, "text") is { ValueKind: JsonValueKind.String } s ? s.GetString()! : throw ApiException.Invalid($"{at}.text: Field required", $"{at}.text");

    private static ApiException Unsupported(string type, string at) =>
        ApiException.Invalid($"{at}: content blocks of type '{type}' are not supported: this model reads text only.", at, "unsupported_content");

    private static List<ChatMessage> Messages(JsonElement? v, int max)
    {
        if (v is not { } a) throw ApiException.Invalid("messages: Field required", "messages", "missing_required_parameter");
        if (a.ValueKind != JsonValueKind.Array) throw JsonBody.WrongType("messages", "an array", a);
        if (a.GetArrayLength() == 0) throw ApiException.Invalid("messages: at least one message is required", "messages", "empty_array");
        if (a.GetArrayLength() > max) throw JsonBody.OutOfRange("messages", $"with at most {max} messages", $"{a.GetArrayLength()}");
        var list = new List<ChatMessage>();
        var names = new Dictionary<string, string>(); // tool_use id → function name, for the results
        int i = 0;
        foreach (var m in a.EnumerateArray())
        {
            string at = $"messages.{i++}";
            if (m.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType(at, "an object", m);
            string? role = JsonBody.Get(m, "role") is { ValueKind: JsonValueKind.String } r ? r.GetString() : null;
            if (role is not ("user" or "assistant" or "system"))
                throw ApiException.Invalid($"{at}.role: Input should be 'user', 'assistant' or 'system'", $"{at}.role", "invalid_value");
            var content = JsonBody.Get(m, "content") ?? throw ApiException.Invalid($"{at}.content: Field required", $"{at}.content", "missing_required_parameter");
            if (content.ValueKind == JsonValueKind.String)
            {
                list.Add(new ChatMessage(role, content.GetString()!));
                continue;
            }
            if (content.ValueKind != JsonValueKind.Array) throw JsonBody.WrongType($"{at}.content", "a string or an array of content blocks", content);
            if (role == "system") list.Add(new ChatMessage("system", Texts(content, $"{at}.content", allowOther: false)));
            else if (role == "assistant") list.Add(Assistant(content, $"{at}.content", names));
            else User(content, $"{at}.content", names, list);
        }
        return list;
    }

    /// <summary>An assistant turn: text, tool_use blocks as calls, thinking as reasoning.</summary>
    private static ChatMessage Assistant(JsonElement blocks, string param, Dictionary<string, string> names)
    {
        var text = new StringBuilder();
        var reasoning = new StringBuilder();
        var calls = new List<ChatToolCall>();
        int i = 0;
        foreach (var block in blocks.EnumerateArray())
        {
            string at = $"{param}.{i++}";
            switch (BlockType(block, at))
            {
                case "text": text.Append(Text(block, at)); break;
                case "thinking":
                    if (JsonBody.Get(block, "thinking") is { ValueKind: JsonValueKind.String } th) reasoning.Append(th.GetString());
                    break;
                case "redacted_thinking": break;
                case "tool_use":
                    string id = JsonBody.Get(block, "id") is { ValueKind: JsonValueKind.String } idv ? idv.GetString()! : throw ApiException.Invalid($"{at}.id: Field required", $"{at}.id");
                    string name = JsonBody.Get(block, "name") is { ValueKind: JsonValueKind.String } n ? n.GetString()! : throw ApiException.Invalid($"{at}.name: Field required", $"{at}.name");
                    var input = JsonBody.Get(block, "input") ?? throw ApiException.Invalid($"{at}.input: Field required", $"{at}.input");
                    if (input.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType($"{at}.input", "an object", input);
                    calls.Add(new ChatToolCall(id, name, input.GetRawText()));
                    names[id] = name;
                    break;
                case var type: throw Unsupported(type, at);
            }
        }
        return new ChatMessage("assistant", text.ToString())
        {
            ToolCalls = calls.Count > 0 ? calls : null,
            ReasoningContent = reasoning.Length > 0 ? reasoning.ToString() : null,
        };
    }

    /// <summary>A user turn: tool_result blocks become tool turns (in order), runs of text blocks user turns.</summary>
    private static void User(JsonElement blocks, string param, Dictionary<string, string> names, List<ChatMessage> into)
    {
        var text = new StringBuilder();
        void FlushText()
        {
            if (text.Length > 0) into.Add(new ChatMessage("user", text.ToString()));
            text.Clear();
        }
        int i = 0;
        foreach (var block in blocks.EnumerateArray())
        {
            string at = $"{param}.{i++}";
            switch (BlockType(block, at))
            {
                case "text": text.Append(Text(block, at)); break;
                case "tool_result":
                    FlushText();
                    string id = JsonBody.Get(block, "tool_use_id") is { ValueKind: JsonValueKind.String } idv ? idv.GetString()! : throw ApiException.Invalid($"{at}.tool_use_id: Field required", $"{at}.tool_use_id");
                    string result = JsonBody.Get(block, "content") switch
                    {
                        null => "",
                        { ValueKind: JsonValueKind.String } s => s.GetString()!,
                        { ValueKind: JsonValueKind.Array } parts => Texts(parts, $"{at}.content", allowOther: false),
                        var other => throw JsonBody.WrongType($"{at}.content", "a string or an array of text blocks", other.Value),
                    };
                    // The model reads whether the call failed from the result itself.
                    if (JsonBody.Get(block, "is_error") is { ValueKind: JsonValueKind.True }) result = "Error: " + result;
                    into.Add(new ChatMessage("tool", result) { ToolCallId = id, Name = names.GetValueOrDefault(id) });
                    break;
                case var type: throw Unsupported(type, at);
            }
        }
        FlushText();
    }

    /// <summary>tools: [{"name", "description", "input_schema"}]; Anthropic's server tools (with a "type") are refused.</summary>
    private static List<ToolDefinition> Tools(JsonElement? v, int max)
    {
        if (v is not { } a) return [];
        if (a.ValueKind != JsonValueKind.Array) throw JsonBody.WrongType("tools", "an array", a);
        if (a.GetArrayLength() > max) throw JsonBody.OutOfRange("tools", $"with at most {max} tools", $"{a.GetArrayLength()}");
        var list = new List<ToolDefinition>();
        int i = 0;
        foreach (var t in a.EnumerateArray())
        {
            string at = $"tools.{i++}";
            if (t.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType(at, "an object", t);
            if (JsonBody.Get(t, "type") is { ValueKind: JsonValueKind.String } type && type.GetString() != "custom")
                throw ApiException.Invalid($"{at}: tools of type '{type.GetString()}' are not supported: only custom (client) tools are.", $"{at}.type", "unsupported_value");
            var schema = JsonBody.Get(t, "input_schema") ?? throw ApiException.Invalid($"{at}.input_schema: Field required", $"{at}.input_schema", "missing_required_parameter");
            list.Add(ToolFields.Definition(JsonBody.Get(t, "name"), JsonBody.Get(t, "description"), schema, at, "input_schema"));
        }
        ToolFields.CheckUnique(list, "tools");
        return list;
    }

    /// <summary>tool_choice: {"type": "auto"|"any"|"tool"|"none", "name", "disable_parallel_tool_use"}.</summary>
    private static (ToolChoice Choice, bool Parallel) Choice(JsonElement? v, bool haveTools)
    {
        if (v is not { } c) return (haveTools ? ToolChoice.Auto : ToolChoice.None, true);
        if (c.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType("tool_choice", "an object", c);
        bool parallel = JsonBody.Get(c, "disable_parallel_tool_use") is not { ValueKind: JsonValueKind.True };
        string? type = JsonBody.Get(c, "type") is { ValueKind: JsonValueKind.String } t ? t.GetString() : null;
        var choice = type switch
        {
            "auto" => ToolChoice.Auto,
            "any" => ToolChoice.Required,
            "none" => ToolChoice.None,
            "tool" => JsonBody.Get(c, "name") is { ValueKind: JsonValueKind.String } n
                ? new ToolChoice(ToolChoiceMode.Function, n.GetString())
                : throw ApiException.Invalid("tool_choice.name: Field required", "tool_choice.name", "missing_required_parameter"),
            _ => throw ApiException.Invalid($"tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none', got '{type ?? "(none)"}'", "tool_choice.type", "invalid_value"),
        };
        return (choice, parallel);
    }

    /// <summary>thinking: {"type": "enabled", "budget_tokens"} or {"type": "disabled"}; null when absent.</summary>
    private static bool? Thinking(JsonElement? v)
    {
        if (v is not { } t) return null;
        if (t.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType("thinking", "an object", t);
        return (JsonBody.Get(t, "type") is { ValueKind: JsonValueKind.String } s ? s.GetString() : null) switch
        {
            "enabled" => true,
            "disabled" => false,
            var other => throw ApiException.Invalid($"thinking.type: Input should be 'enabled' or 'disabled', got '{other ?? "(none)"}'", "thinking.type", "invalid_value"),
        };
    }
}
