using Strata.Chat.Output;
using Strata.Chat.Tools;
using Strata.Engine;
using Strata.Grammar;

namespace Strata.Chat;

/// <summary>
/// One chat turn made ready for the engine, the same for every front end (the HTTP APIs, the in-process
/// <c>IChatClient</c>): the conversation rendered by the model's template with the tools offered, tokenized; the
/// generation options with the format's control tokens kept in the text and, when a call is required, the call
/// grammar; and how to read the answer back (reasoning, content, calls in the family's syntax).
/// </summary>
/// <remarks>
/// tool_choice "required" and a named function are enforced by constrained decoding: the answer must be a call, in
/// the family's syntax, to an offered function with arguments that match its parameters schema
/// (<see cref="ToolCallGrammar"/>). The system turn also says a call is required, and a named choice offers only that
/// function. Call markers that are control tokens (Mistral's <c>[TOOL_CALLS]</c>, Llama's <c>&lt;|python_tag|&gt;</c>)
/// are the format's shown control tokens, which the call grammar emits as their text.
/// </remarks>
public sealed class ChatTurnPlan
{
    public required int[] Prompt { get; init; }
    /// <summary>The rendered prompt text.</summary>
    public required string Text { get; init; }
    public required GenerationOptions Generation { get; init; }
    public required ChatOutputOptions Output { get; init; }
    /// <summary>The tools the template was given.</summary>
    public required IReadOnlyList<ToolDefinition> Offered { get; init; }
    /// <summary>Whether the request requires a call (required or a named function).</summary>
    public bool Enforced { get; init; }

    public ChatOutputParser NewParser() => new(Output);

    /// <summary>Prepares a turn.</summary>
    /// <param name="generation">The request's limits, sampling and stop strings (and grammar, for structured output).</param>
    /// <exception cref="ChatTemplateException">The model's template could not render the conversation.</exception>
    /// <exception cref="ChatPlanException">The tools cannot be enforced, or a required call meets another grammar.</exception>
    public static ChatTurnPlan Prepare(Model model, ChatTemplate template, ChatFormat format, ChatConversation c, GenerationOptions generation,
        Func<string>? newCallId = null)
    {
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
        var rendered = ChatPrompt.Render(model, template, messages, options);
        IReadOnlySet<string>? allowed = offered.Count > 0 ? offered.Select(t => t.Name).ToHashSet() : null;
        var shown = format.ShownControlTokens(tools: allowed is not null);
        bool enforced = c.ToolChoice.Mode is ToolChoiceMode.Required or ToolChoiceMode.Function;
        bool parallel = c.ParallelToolCalls && c.ToolChoice.Mode != ToolChoiceMode.Function;
        if (shown is not null) generation = generation with { ShownControlTokens = shown };
        if (enforced && offered.Count > 0)
        {
            if (generation.Grammar is not null)
                throw new ChatPlanException(ChatPlanProblem.RequiredCallWithGrammar, "a required tool call cannot also be held to a response format or grammar");
            try
            {
                string gbnf = ToolCallGrammar.Gbnf(format.Tools, offered, parallel);
                // The format's call markers may be control tokens (Mistral's [TOOL_CALLS]): the grammar emits them as text.
                generation = generation with { Grammar = TokenGrammar.Get(gbnf, model.Tokenizer, model.Config.VocabSize, shown) };
            }
            catch (GrammarException e)
            {
                throw new ChatPlanException(ChatPlanProblem.ToolSchema, $"a function's parameters schema cannot be enforced: {e.Message}");
            }
        }
        return new ChatTurnPlan
        {
            Prompt = rendered.Tokens,
            Text = rendered.Text,
            Generation = generation,
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

public enum ChatPlanProblem { ToolSchema, RequiredCallWithGrammar }

/// <summary>A chat turn that cannot be prepared as asked (see <see cref="ChatPlanProblem"/>).</summary>
public sealed class ChatPlanException(ChatPlanProblem problem, string message) : StrataException(message)
{
    public ChatPlanProblem Problem { get; } = problem;
}
