using Strata.Chat;
using Strata.Chat.Tools;

namespace Strata.Server.Api;

public enum ToolChoiceMode { Auto, None, Required, Function }

/// <summary>Whether and which function the model must call: auto, none, required, or one named function.</summary>
public sealed record ToolChoice(ToolChoiceMode Mode, string? Function = null)
{
    public static readonly ToolChoice Auto = new(ToolChoiceMode.Auto), None = new(ToolChoiceMode.None), Required = new(ToolChoiceMode.Required);
}

/// <summary>A chat request in the engine's terms, whichever API it came through (chat completions, Responses, Messages).</summary>
public sealed record ChatConversation
{
    public required List<ChatMessage> Messages { get; init; }
    public IReadOnlyList<ToolDefinition> Tools { get; init; } = [];
    public ToolChoice ToolChoice { get; init; } = ToolChoice.Auto;
    public bool ParallelToolCalls { get; init; } = true;
    /// <summary>Extra template variables (chat_template_kwargs), such as enable_thinking.</summary>
    public IReadOnlyDictionary<string, object?>? TemplateVariables { get; init; }

    /// <summary>A named tool_choice must name a function the request offers.</summary>
    public void CheckToolChoice(string param)
    {
        if (ToolChoice.Mode == ToolChoiceMode.Function && !Tools.Any(t => t.Name == ToolChoice.Function))
            throw ApiException.Invalid($"Invalid '{param}': the function '{ToolChoice.Function}' is not among the tools.", param, "invalid_value");
        if (ToolChoice.Mode is ToolChoiceMode.Required or ToolChoiceMode.Function && Tools.Count == 0)
            throw ApiException.Invalid($"Invalid '{param}': a tool call is required but no tools were given.", param, "invalid_value");
    }
}
