using Strata.Chat.Tools;

namespace Strata.Chat;

public enum ToolChoiceMode { Auto, None, Required, Function }

/// <summary>Whether and which function the model must call: auto, none, required, or one named function.</summary>
public sealed record ToolChoice(ToolChoiceMode Mode, string? Function = null)
{
    public static readonly ToolChoice Auto = new(ToolChoiceMode.Auto), None = new(ToolChoiceMode.None), Required = new(ToolChoiceMode.Required);
}

/// <summary>
/// A chat request in the engine's terms, whichever front end it came through: the HTTP APIs (chat completions,
/// Responses, Messages) and the in-process <c>IChatClient</c>.
/// </summary>
public sealed record ChatConversation
{
    public required List<ChatMessage> Messages { get; init; }
    public IReadOnlyList<ToolDefinition> Tools { get; init; } = [];
    public ToolChoice ToolChoice { get; init; } = ToolChoice.Auto;
    public bool ParallelToolCalls { get; init; } = true;
    /// <summary>Extra template variables (chat_template_kwargs), such as enable_thinking.</summary>
    public IReadOnlyDictionary<string, object?>? TemplateVariables { get; init; }

    /// <summary>What is wrong with the tool choice, or null: a named choice must name an offered function, and a
    /// required call needs tools.</summary>
    public string? ToolChoiceError()
    {
        if (ToolChoice.Mode == ToolChoiceMode.Function && !Tools.Any(t => t.Name == ToolChoice.Function))
            return $"the function '{ToolChoice.Function}' is not among the tools";
        if (ToolChoice.Mode is ToolChoiceMode.Required or ToolChoiceMode.Function && Tools.Count == 0)
            return "a tool call is required but no tools were given";
        return null;
    }
}
