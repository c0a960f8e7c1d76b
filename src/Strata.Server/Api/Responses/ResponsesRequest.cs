using System.Text;
using System.Text.Json;
using Strata.Chat;
using Strata.Chat.Tools;
using Strata.Server.Hosting;

namespace Strata.Server.Api.Responses;

/// <summary>A Responses API request in the engine's terms, with what the response object echoes back.</summary>
/// <param name="Tools">The request's tools as sent, echoed in the response.</param>
/// <param name="ToolChoice">The request's tool_choice as sent, echoed in the response.</param>
public sealed record ResponsesRequest(ChatConversation Conversation, GenerationFields Fields, string? Instructions, double Temperature, double TopP,
    JsonElement? Metadata, string? User, JsonElement? Tools, JsonElement? ToolChoice);

/// <summary>
/// Reads OpenAI's POST /v1/responses body, stateless: <c>input</c> (a string, or items: messages with input_text /
/// output_text content, function_call and function_call_output), <c>instructions</c>, <c>tools</c> (the flat
/// function shape), <c>tool_choice</c>, <c>parallel_tool_calls</c>, <c>max_output_tokens</c>, <c>temperature</c>,
/// <c>top_p</c>, <c>text.format</c>, <c>stream</c>. Nothing is stored, so <c>previous_response_id</c> is refused.
/// </summary>
public static class ResponsesRequestReader
{
    private static readonly HashSet<string> Roles = ["user", "system", "developer", "assistant"];

    public static ResponsesRequest Read(JsonBody b, ModelHost host, string fairnessKey)
    {
        var limits = host.Options.Limits;
        if (b.Get("previous_response_id") is not null)
            throw ApiException.Invalid("This server does not store responses (as with store: false), so 'previous_response_id' cannot be used: send the whole conversation in 'input'.",
                "previous_response_id", "unsupported_parameter");
        if (b.Get("conversation") is not null)
            throw ApiException.Invalid("This server does not store conversations: send the whole conversation in 'input'.", "conversation", "unsupported_parameter");
        string? textGrammar = TextFormat(b.Get("text"));

        string? instructions = b.String("instructions");
        var messages = new List<ChatMessage>();
        if (!string.IsNullOrEmpty(instructions)) messages.Add(new ChatMessage("system", instructions));
        Input(b.Get("input"), limits.MaxMessages, messages);
        var tools = ToolFields.FunctionList(b.Get("tools"), limits.MaxTools, nested: false);
        var conversation = new ChatConversation
        {
            Messages = messages,
            Tools = tools,
            ToolChoice = ToolFields.Choice(b.Get("tool_choice"), tools.Count > 0, nested: false),
            ParallelToolCalls = b.Bool("parallel_tool_calls") ?? true,
            TemplateVariables = ToolFields.TemplateVariables(b.Get("chat_template_kwargs"), "chat_template_kwargs"),
        };
        conversation.CheckToolChoice("tool_choice");

        double temperature = b.Number("temperature", 0, 2) ?? 1;
        double topP = b.Number("top_p", 0, 1) ?? 1;
        long? max = b.Integer("max_output_tokens", 1, int.MaxValue);
        string? user = b.String("safety_identifier") ?? b.String("user");
        var metadata = b.Get("metadata");
        if (metadata is { ValueKind: not JsonValueKind.Object } m) throw JsonBody.WrongType("metadata", "an object", m);
        var fields = GenerationFields.Simple(host, fairnessKey, temperature, topP, (int?)b.Integer("top_k", -1, int.MaxValue), max is { } mt ? (int)mt : null,
            [], b.Bool("stream") ?? false, user);
        if (textGrammar is not null)
            fields = fields with { Generation = fields.Generation with { Grammar = StructuredOutput.Compile(textGrammar, "text.format", host) } };
        return new ResponsesRequest(conversation, fields, instructions, temperature, topP, metadata?.Clone(), user, b.Get("tools")?.Clone(), b.Get("tool_choice")?.Clone());
    }

    /// <summary>text.format: free text, or JSON held to a schema by grammar-constrained decoding (as chat's response_format).</summary>
    private static string? TextFormat(JsonElement? text)
    {
        if (text is not { } t) return null;
        if (t.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType("text", "an object", t);
        return JsonBody.Get(t, "format") is { } f ? StructuredOutput.TextFormat(f) : null;
    }

    /// <summary>input: a string (one user message) or a list of items.</summary>
    private static void Input(JsonElement? v, int max, List<ChatMessage> into)
    {
        if (v is not { } input) throw ApiException.Invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter");
        if (input.ValueKind == JsonValueKind.String)
        {
            into.Add(new ChatMessage("user", input.GetString()!));
            return;
        }
        if (input.ValueKind != JsonValueKind.Array) throw JsonBody.WrongType("input", "a string or an array of input items", input);
        if (input.GetArrayLength() == 0) throw ApiException.Invalid("Invalid 'input': empty array.", "input", "empty_array");
        if (input.GetArrayLength() > max) throw JsonBody.OutOfRange("input", $"with at most {max} items", $"{input.GetArrayLength()}");
        var names = new Dictionary<string, string>(); // call_id → function name, for the outputs
        int i = 0;
        foreach (var item in input.EnumerateArray())
        {
            string at = $"input[{i++}]";
            if (item.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType(at, "an object", item);
            string type = JsonBody.Get(item, "type") is { ValueKind: JsonValueKind.String } t ? t.GetString()! : "message";
            switch (type)
            {
                case "message":
                    string role = JsonBody.Get(item, "role") is { ValueKind: JsonValueKind.String } r ? r.GetString()! : throw ApiException.Invalid($"Missing required parameter: '{at}.role'.", $"{at}.role", "missing_required_parameter");
                    if (!Roles.Contains(role))
                        throw ApiException.Invalid($"Invalid value: '{role}'. Supported values are: 'user', 'system', 'developer' and 'assistant'.", $"{at}.role", "invalid_value");
                    into.Add(new ChatMessage(role == "developer" ? "system" : role, Content(JsonBody.Get(item, "content"), $"{at}.content")));
                    break;
                case "function_call":
                    string callId = Str(item, "call_id", at);
                    string name = Str(item, "name", at);
                    var call = new ChatToolCall(callId, name, ToolFields.Arguments(JsonBody.Get(item, "arguments"), $"{at}.arguments"));
                    names[callId] = name;
                    // Calls that follow an assistant turn (or each other) belong to that turn.
                    if (into.Count > 0 && into[^1].Role == "assistant")
                        into[^1] = into[^1] with { ToolCalls = [.. into[^1].ToolCalls ?? [], call] };
                    else into.Add(new ChatMessage("assistant", "") { ToolCalls = [call] });
                    break;
                case "function_call_output":
                    string id = Str(item, "call_id", at);
                    string output = JsonBody.Get(item, "output") is { } o
                        ? o.ValueKind == JsonValueKind.String ? o.GetString()! : Content(o, $"{at}.output")
                        : throw ApiException.Invalid($"Missing required parameter: '{at}.output'.", $"{at}.output", "missing_required_parameter");
                    into.Add(new ChatMessage("tool", output) { ToolCallId = id, Name = names.GetValueOrDefault(id) });
                    break;
                case "reasoning":
                    // Earlier reasoning is not shown to the model again (templates drop it from past turns).
                    break;
                case "item_reference":
                    throw ApiException.Invalid("This server does not store items, so 'item_reference' cannot be used: send the items themselves.", $"{at}.type", "unsupported_value");
                default:
                    throw ApiException.Invalid($"Input items of type '{type}' are not supported: use messages, function_call and function_call_output.", $"{at}.type", "unsupported_value");
            }
        }
        if (!into.Any(m => m.Role != "system")) throw ApiException.Invalid("Invalid 'input': it holds no message.", "input");
    }

    private static string Str(JsonElement item, string field, string at) =>
        JsonBody.Get(item, field) is { ValueKind: JsonValueKind.String } s ? s.GetString()! : throw ApiException.Invalid($"Missing required parameter: '{at}.{field}'.", $"{at}.{field}", "missing_required_parameter");

    /// <summary>A message's content: a string, or parts of type input_text / output_text (text only).</summary>
    private static string Content(JsonElement? v, string param)
    {
        if (v is not { } c) throw ApiException.Invalid($"Missing required parameter: '{param}'.", param, "missing_required_parameter");
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
        if (c.ValueKind != JsonValueKind.Array) throw JsonBody.WrongType(param, "a string or an array of content parts", c);
        var text = new StringBuilder();
        int k = 0;
        foreach (var part in c.EnumerateArray())
        {
            string at = $"{param}[{k++}]";
            if (part.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType(at, "an object", part);
            string? type = JsonBody.Get(part, "type") is { ValueKind: JsonValueKind.String } t ? t.GetString() : null;
            if (type is not ("input_text" or "output_text" or "text"))
                throw ApiException.Invalid($"Content parts of type '{type ?? "(none)"}' are not supported: this model reads text only.", $"{at}.type", "unsupported_content");
            text.Append(Str(part, "text", at));
        }
        return text.ToString();
    }
}
