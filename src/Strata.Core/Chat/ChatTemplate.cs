using Strata.Gguf;

namespace Strata.Chat;

/// <summary>
/// One turn of a conversation. Besides role and text, a turn may carry what agents exchange: the calls an assistant
/// turn made, the call a "tool" turn answers, and an assistant turn's reasoning. The template sees them as Hugging Face
/// passes them (<c>tool_calls</c>, <c>tool_call_id</c>, <c>name</c>, <c>reasoning_content</c>), each only when set.
/// </summary>
public sealed record ChatMessage(string Role, string Content)
{
    /// <summary>The calls an assistant turn made.</summary>
    public IReadOnlyList<Tools.ChatToolCall>? ToolCalls { get; init; }
    /// <summary>For a "tool" turn: the id of the call it answers.</summary>
    public string? ToolCallId { get; init; }
    /// <summary>For a "tool" turn: the function that was called (some templates print it).</summary>
    public string? Name { get; init; }
    /// <summary>An assistant turn's reasoning (Qwen3's template renders it inside think tags).</summary>
    public string? ReasoningContent { get; init; }
}

/// <summary>Safety limits and the clock for rendering chat templates. The defaults suit any real template.</summary>
public sealed record ChatTemplateOptions
{
    public static readonly ChatTemplateOptions Default = new();

    /// <summary>Evaluation steps (statements, expressions, loop iterations) one render may take.</summary>
    public long MaxSteps { get; init; } = 10_000_000;

    /// <summary>Characters one render may output, and the longest string it may build.</summary>
    public long MaxOutputChars { get; init; } = 8 * 1024 * 1024;

    /// <summary>The most items one list may hold.</summary>
    public long MaxItems { get; init; } = 1_000_000;

    /// <summary>Nesting depth of the syntax tree, and of evaluation including macro calls.</summary>
    public int MaxDepth { get; init; } = 500;

    /// <summary>The clock behind <c>strftime_now</c>; null means the local time now.</summary>
    public Func<DateTimeOffset>? Now { get; init; }
}

/// <summary>
/// A Hugging Face chat template (Jinja2 source, as found in GGUF <c>tokenizer.chat_template</c> or
/// tokenizer_config.json <c>chat_template</c>), rendered the way transformers' <c>apply_chat_template</c> does:
/// trim_blocks and lstrip_blocks on, undefined variables render empty, loop controls and <c>raise_exception</c>,
/// <c>strftime_now</c> and <c>namespace</c> available.
/// </summary>
public sealed class ChatTemplate
{
    private readonly List<Node> _body;
    private readonly Func<int, (int Line, int Column)> _locate;

    public string Source { get; }
    public ChatTemplateOptions Options { get; }

    private ChatTemplate(string source, List<Node> body, Func<int, (int, int)> locate, ChatTemplateOptions options)
    {
        Source = source;
        _body = body;
        _locate = locate;
        Options = options;
    }

    /// <summary>Parses a template; a syntax error throws <see cref="ChatTemplateException"/> with its line and column.</summary>
    public static ChatTemplate Parse(string source, ChatTemplateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        options ??= ChatTemplateOptions.Default;
        var body = JinjaParser.Parse(source, options.MaxDepth, out var locate);
        return new ChatTemplate(source, body, locate, options);
    }

    /// <summary>The same template rendered under other limits or another clock.</summary>
    public ChatTemplate WithOptions(ChatTemplateOptions options) => new(Source, _body, _locate, options);

    /// <summary>
    /// Renders a conversation. The template sees <c>messages</c> (dicts with <c>role</c> and <c>content</c>, and
    /// <c>tool_calls</c>, <c>tool_call_id</c>, <c>name</c>, <c>reasoning_content</c> where the message has them),
    /// <c>add_generation_prompt</c>, <c>bos_token</c> and <c>eos_token</c> (left undefined when null), and every entry
    /// of <paramref name="extra"/> (for example <c>tools</c>, <c>enable_thinking</c>; it may also override the others).
    /// Values in <paramref name="extra"/> may be strings, numbers, booleans, dictionaries, sequences or JsonElements.
    /// </summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, string? bosToken, string? eosToken,
        IReadOnlyDictionary<string, object?>? extra = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var globals = new Scope(null);
        JinjaInterpreter.AddGlobals(globals, Options);
        var vars = new Scope(globals);
        vars.Vars["messages"] = messages.Select(m => (object?)JinjaValues.MessageToDict(m)).ToList();
        vars.Vars["add_generation_prompt"] = addGenerationPrompt;
        if (bosToken is not null) vars.Vars["bos_token"] = bosToken;
        if (eosToken is not null) vars.Vars["eos_token"] = eosToken;
        if (extra is not null)
            foreach (var (k, v) in extra) vars.Vars[k] = JinjaValues.FromDotNet(v);
        var interp = new JinjaInterpreter(Options, _locate);
        try
        {
            return interp.Run(_body, vars);
        }
        catch (InsufficientExecutionStackException)
        {
            throw new ChatTemplateException("chat template nesting is too deep for the available stack");
        }
        catch (Exception e) when (e is InvalidCastException or ArgumentException or IndexOutOfRangeException or InvalidOperationException
                                      or FormatException or OverflowException or KeyNotFoundException)
        {
            // A safety net: whatever a template does, the caller sees one kind of error.
            throw new ChatTemplateException($"chat template failed: {e.Message}");
        }
    }

    /// <summary>
    /// The template in a GGUF file's metadata (<c>tokenizer.chat_template</c>), or null when the model has none.
    /// </summary>
    public static ChatTemplate? FromGguf(GgufMetadata metadata, ChatTemplateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        string? source = metadata.TryGetString("tokenizer.chat_template");
        return string.IsNullOrEmpty(source) ? null : Parse(source, options);
    }
}
