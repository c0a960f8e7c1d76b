using Microsoft.Extensions.AI;
using StrataMessage = Strata.Chat.ChatMessage;

namespace Strata.Extensions.AI;

/// <summary>
/// Microsoft.Extensions.AI messages as the chat template sees them: role and text, with
/// <see cref="ChatOptions.Instructions"/> joined to the system turn (templates want one system message, first).
/// Content the model cannot read (images, audio, files) is refused rather than dropped.
/// </summary>
internal static class ChatMessageMapping
{
    public static List<StrataMessage> ToStrata(IEnumerable<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = new List<StrataMessage>();
        int i = 0;
        foreach (var m in messages)
        {
            list.Add(ToStrata(m, i));
            i++;
        }
        return list;
    }

    private static StrataMessage ToStrata(ChatMessage m, int index)
    {
        string role = m.Role.Value.ToLowerInvariant();
        if (role is not ("system" or "user" or "assistant"))
            throw new NotSupportedException($"messages[{index}]: role '{m.Role.Value}' is not supported (system, user, assistant)");
        var text = new System.Text.StringBuilder();
        foreach (var c in m.Contents)
        {
            switch (c)
            {
                case TextContent t: text.Append(t.Text); break;
                case TextReasoningContent or UsageContent: break; // an earlier answer's reasoning and counts are not prompt text
                default:
                    throw new NotSupportedException($"messages[{index}]: {c.GetType().Name} is not supported: this model reads text only");
            }
        }
        return new StrataMessage(role, text.ToString());
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
