using System.Text.Json;
using Microsoft.Extensions.AI;
using Strata.Chat.Tools;
using StrataMessage = Strata.Chat.ChatMessage;

namespace Strata.Extensions.AI;

/// <summary>
/// Microsoft.Extensions.AI messages as the chat template sees them: role and text; an assistant turn's function calls
/// (<see cref="FunctionCallContent"/>) and reasoning; a tool turn's results (<see cref="FunctionResultContent"/>,
/// one template message per result, with the id and name of the call it answers). <see cref="ChatOptions.Instructions"/>
/// join the system turn (templates want one system message, first). Content the model cannot read (images, audio,
/// files) is refused rather than dropped.
/// </summary>
internal static class ChatMessageMapping
{
    /// <param name="messages">The turn's new messages.</param>
    /// <param name="history">
    /// The conversation's stored turns, whose calls name the functions of results that answer them now (a caller
    /// with a conversation id sends only the results, after the call came back in the previous answer).
    /// </param>
    public static List<StrataMessage> ToStrata(IEnumerable<ChatMessage> messages, IReadOnlyList<StrataMessage>? history = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = new List<StrataMessage>();
        var callNames = new Dictionary<string, string>(); // call id → function, for the results that answer it
        if (history is not null)
            foreach (var call in history.Where(h => h.ToolCalls is not null).SelectMany(h => h.ToolCalls!))
                callNames[call.Id] = call.Name;
        int i = 0;
        foreach (var m in messages)
        {
            Add(list, m, i++, callNames);
        }
        return list;
    }

    private static void Add(List<StrataMessage> list, ChatMessage m, int index, Dictionary<string, string> callNames)
    {
        string role = m.Role.Value.ToLowerInvariant();
        if (role is not ("system" or "user" or "assistant" or "tool"))
            throw new NotSupportedException($"messages[{index}]: role '{m.Role.Value}' is not supported (system, user, assistant, tool)");
        var text = new System.Text.StringBuilder();
        var reasoning = new System.Text.StringBuilder();
        var calls = new List<ChatToolCall>();
        foreach (var c in m.Contents)
        {
            switch (c)
            {
                case TextContent t:
                    text.Append(t.Text);
                    break;
                case TextReasoningContent r:
                    if (role == "assistant") reasoning.Append(r.Text);
                    break;
                case UsageContent:
                    break; // an earlier answer's counts are not prompt text
                case FunctionCallContent call when role == "assistant":
                    calls.Add(new ChatToolCall(call.CallId, call.Name, JsonSerializer.Serialize(call.Arguments ?? new Dictionary<string, object?>(), AIJsonUtilities.DefaultOptions)));
                    callNames[call.CallId] = call.Name;
                    break;
                case FunctionResultContent result when role == "tool":
                    list.Add(new StrataMessage("tool", ResultText(result.Result)) { ToolCallId = result.CallId, Name = callNames.GetValueOrDefault(result.CallId) });
                    break;
                default:
                    throw new NotSupportedException($"messages[{index}] ({m.Role.Value}): {c.GetType().Name} is not supported here: this model reads text, calls and their results");
            }
        }
        if (role == "tool")
        {
            // A tool message with text but no result content: the text is the result.
            if (text.Length > 0) list.Add(new StrataMessage("tool", text.ToString()));
            return;
        }
        list.Add(new StrataMessage(role, text.ToString())
        {
            ToolCalls = calls.Count > 0 ? calls : null,
            ReasoningContent = reasoning.Length > 0 ? reasoning.ToString() : null,
        });
    }

    /// <summary>A function's result as the tool turn's text: a string as it is, anything else as JSON.</summary>
    private static string ResultText(object? result) => result switch
    {
        null => "",
        string s => s,
        JsonElement { ValueKind: JsonValueKind.String } e => e.GetString()!,
        _ => JsonSerializer.Serialize(result, AIJsonUtilities.DefaultOptions.GetTypeInfo(result.GetType())),
    };

    /// <summary>A call the model made, as Microsoft.Extensions.AI's content (arguments parsed from their JSON).</summary>
    public static FunctionCallContent ToContent(ChatToolCall call)
    {
        Dictionary<string, object?>? arguments;
        try
        {
            arguments = JsonSerializer.Deserialize<Dictionary<string, object?>>(call.Arguments, AIJsonUtilities.DefaultOptions);
        }
        catch (JsonException)
        {
            arguments = null; // the parser hands out only well-formed calls; this is a guard, not a path
        }
        return new FunctionCallContent(call.Id, call.Name, arguments);
    }

    /// <summary>The conversation with the per-request instructions in front: a system turn of their own, or joined to
    /// the conversation's first system turn.</summary>
    public static List<StrataMessage> WithInstructions(List<StrataMessage> messages, string? instructions)
    {
        if (string.IsNullOrEmpty(instructions)) return messages;
        var list = new List<StrataMessage>(messages);
        if (list.Count > 0 && list[0].Role == "system") list[0] = list[0] with { Content = instructions + "\n\n" + list[0].Content };
        else list.Insert(0, new StrataMessage("system", instructions));
        return list;
    }
}
