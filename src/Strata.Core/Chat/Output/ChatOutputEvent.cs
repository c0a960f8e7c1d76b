using Strata.Chat.Tools;

namespace Strata.Chat.Output;

/// <summary>A piece of a chat answer, as the output parser releases it.</summary>
public abstract record ChatOutputEvent;

/// <summary>Text of the answer proper (OpenAI's <c>content</c>).</summary>
public sealed record ContentDelta(string Text) : ChatOutputEvent;

/// <summary>Text the model wrote inside its think tags (<c>reasoning_content</c>).</summary>
public sealed record ReasoningDelta(string Text) : ChatOutputEvent;

/// <summary>A complete, well-formed call; <see cref="Index"/> counts the answer's calls from 0.</summary>
public sealed record ToolCallDelta(int Index, ChatToolCall Call) : ChatOutputEvent;

/// <summary>What the parser looks for in a model's output.</summary>
public sealed record ChatOutputOptions
{
    /// <summary>The family's call syntax; null: calls are not parsed (no tools, or tool_choice "none").</summary>
    public ToolCallFormat? Tools { get; init; }
    /// <summary>Names of the functions offered; a call to any other is not a call but text. Null: any name.</summary>
    public IReadOnlySet<string>? AllowedNames { get; init; }
    /// <summary>False: at most one call per answer (OpenAI's parallel_tool_calls); calls after the first are dropped.</summary>
    public bool ParallelCalls { get; init; } = true;
    /// <summary>Whether text in think tags at the start of the answer is reasoning (templates with thinking).</summary>
    public bool Reasoning { get; init; }
    /// <summary>The prompt already opened the think tag (the template's generation prompt ends with it).</summary>
    public bool StartsInReasoning { get; init; }
    /// <summary>Makes the id of each call found.</summary>
    public Func<string> NewCallId { get; init; } = ChatToolCall.NewId;

    /// <summary>Nothing to look for: the text passes through unchanged.</summary>
    public bool IsPlain => Tools is null && !Reasoning;
}
