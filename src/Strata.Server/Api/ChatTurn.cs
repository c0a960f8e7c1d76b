using Strata.Chat;
using Strata.Chat.Output;
using Strata.Chat.Tools;
using Strata.Engine.Serving;
using Strata.Server.Hosting;

namespace Strata.Server.Api;

/// <summary>
/// One chat request made ready for the engine, the same for every API: the conversation rendered by the model's
/// template with the tools offered, tokenized and checked against the context, and how to read the answer back
/// (reasoning, content, calls in the family's syntax).
/// </summary>
/// <remarks>
/// tool_choice "required" and a named function are honoured today by prompting (the system turn says a call is
/// required, only the named function is offered) and by parsing only that function's calls; nothing yet forces the
/// model to call. TODO(grammar merge): constrain decoding with <see cref="ToolCallGrammar.Gbnf"/> here: set the
/// generation options' grammar to Gbnf.Parse(ToolCallGrammar.Gbnf(format, offered, parallel)) when
/// <see cref="Enforced"/> is true.
/// </remarks>
public sealed class ChatTurn
{
    public required int[] Prompt { get; init; }
    public required GenerationFields Fields { get; init; }
    public required ChatOutputOptions Output { get; init; }
    /// <summary>The tools the template was given.</summary>
    public required IReadOnlyList<ToolDefinition> Offered { get; init; }
    /// <summary>Whether the request requires a call (required or a named function).</summary>
    public bool Enforced { get; init; }

    public InferenceRequest ToRequest() => Fields.ToRequest(Prompt);

    public ChatOutputParser NewParser() => new(Output);

    /// <param name="param">The request's field the messages came in (named in errors).</param>
    public static ChatTurn Prepare(ModelHost host, ChatConversation c, GenerationFields g, string param, Func<string>? newCallId = null)
    {
        var format = host.ChatFormat;
        IReadOnlyList<ToolDefinition> offered = c.ToolChoice.Mode switch
        {
            ToolChoiceMode.None => [],
            ToolChoiceMode.Function => c.Tools.Where(t => t.Name == c.ToolChoice.Function).ToList(),
            _ => c.Tools,
        };
        var messages = format.Tools == ToolCallFormat.Mistral ? MistralIds(format, c.Messages) : c.Messages;
        var options = new ChatRenderOptions
        {
            Tools = offered,
            Variables = c.TemplateVariables,
            Instruction = c.ToolChoice.Mode switch
            {
                ToolChoiceMode.Required => ToolPrompt.Requirement(null),
                ToolChoiceMode.Function => ToolPrompt.Requirement(c.ToolChoice.Function),
                _ => null,
            },
        };
        (int[] Tokens, string Text) rendered;
        try
        {
            rendered = ChatPrompt.Render(host.Model, host.Template, messages, options);
        }
        catch (ChatTemplateException e)
        {
            throw ApiException.Invalid($"The model's chat template could not render these messages: {e.Message}", param);
        }
        GenerationFields.CheckLength(host, rendered.Tokens.Length, g.MaxTokens, param);
        IReadOnlySet<string>? allowed = offered.Count > 0 ? offered.Select(t => t.Name).ToHashSet() : null;
        var shown = format.ShownControlTokens(tools: allowed is not null);
        return new ChatTurn
        {
            Prompt = rendered.Tokens,
            Fields = shown is null ? g : g with { Generation = g.Generation with { ShownControlTokens = shown } },
            Output = format.Output(rendered.Text, allowed, c.ParallelToolCalls && c.ToolChoice.Mode != ToolChoiceMode.Function, newCallId),
            Offered = offered,
            Enforced = c.ToolChoice.Mode is ToolChoiceMode.Required or ToolChoiceMode.Function,
        };
    }

    /// <summary>Call ids as Mistral's template accepts them (9 letters and digits), the same for a call and its result.</summary>
    private static List<ChatMessage> MistralIds(ChatFormat format, List<ChatMessage> messages) =>
        messages.Select(m => m with
        {
            ToolCalls = m.ToolCalls?.Select(t => t with { Id = format.TemplateCallId(t.Id) }).ToList(),
            ToolCallId = m.ToolCallId is null ? null : format.TemplateCallId(m.ToolCallId),
        }).ToList();
}
