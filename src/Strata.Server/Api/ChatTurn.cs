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
/// tool_choice "required" and a named function are enforced by constrained decoding: the answer must be a call, in
/// the family's syntax, to an offered function with arguments that match its parameters schema
/// (<see cref="ToolCallGrammar"/>). The system turn also says a call is required, and a named choice offers only that
/// function. Mistral's call marker is a control token no grammar can emit, so for Mistral models enforcement is by
/// prompting and parsing alone.
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
        bool enforced = c.ToolChoice.Mode is ToolChoiceMode.Required or ToolChoiceMode.Function;
        bool parallel = c.ParallelToolCalls && c.ToolChoice.Mode != ToolChoiceMode.Function;
        if (shown is not null) g = g with { Generation = g.Generation with { ShownControlTokens = shown } };
        if (enforced && offered.Count > 0 && format.Tools != ToolCallFormat.Mistral)
        {
            if (g.Generation.Grammar is not null)
                throw ApiException.Invalid("A required tool call cannot also be held to 'response_format' or 'grammar'.", "tool_choice");
            string gbnf;
            try
            {
                gbnf = ToolCallGrammar.Gbnf(format.Tools, offered, parallel);
            }
            catch (Strata.Grammar.GrammarException e)
            {
                throw ApiException.Invalid($"Invalid 'tools': a function's parameters schema cannot be enforced: {e.Message}", "tools", "invalid_value");
            }
            g = g with { Generation = g.Generation with { Grammar = StructuredOutput.Compile(gbnf, "tools", host) } };
        }
        return new ChatTurn
        {
            Prompt = rendered.Tokens,
            Fields = g,
            Output = format.Output(rendered.Text, allowed, parallel, newCallId),
            Offered = offered,
            Enforced = enforced,
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
