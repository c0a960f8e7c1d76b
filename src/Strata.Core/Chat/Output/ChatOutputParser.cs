using System.Text;
using Strata.Chat.Tools;

namespace Strata.Chat.Output;

/// <summary>
/// Turns a chat model's generated text, piece by piece, into what the APIs return: reasoning (think tags), content
/// and function calls in the model family's syntax. Streaming and whole responses use the same parser, so both give
/// the same answer: a whole response is the concatenation of the streamed pieces.
/// </summary>
public sealed class ChatOutputParser
{
    private readonly ChatOutputOptions _o;
    private readonly ReasoningSplitter? _reasoning;
    private readonly ToolCallStream? _calls;
    private readonly List<ChatOutputEvent> _events = new();

    public ChatOutputParser(ChatOutputOptions options)
    {
        _o = options;
        if (options.Tools is not null) _calls = new ToolCallStream(options, t => _events.Add(new ContentDelta(t)), Call);
        if (options.Reasoning)
            _reasoning = new ReasoningSplitter(options.StartsInReasoning, t => _events.Add(new ReasoningDelta(t)), Answer);
    }

    /// <summary>Calls found so far.</summary>
    public int CallCount { get; private set; }

    /// <summary>Whether the text pushed last was reasoning (for counting reasoning tokens).</summary>
    public bool InReasoning => _reasoning?.InReasoning ?? false;

    /// <summary>Adds generated text; returns what can be released now (the list is reused by the next call).</summary>
    public IReadOnlyList<ChatOutputEvent> Push(string text)
    {
        _events.Clear();
        if (text.Length == 0) return _events;
        if (_reasoning is not null) _reasoning.Push(text);
        else Answer(text);
        return _events;
    }

    /// <summary>The output ended: releases everything held back.</summary>
    public IReadOnlyList<ChatOutputEvent> Finish()
    {
        _events.Clear();
        _reasoning?.Finish();
        _calls?.Finish();
        return _events;
    }

    private void Answer(string text)
    {
        if (text.Length == 0) return;
        if (_calls is not null) _calls.Push(text);
        else _events.Add(new ContentDelta(text));
    }

    private void Call(ParsedCall c) => _events.Add(new ToolCallDelta(CallCount++, new ChatToolCall(_o.NewCallId(), c.Name, c.Arguments)));
}

/// <summary>A whole answer, gathered from the parser's events.</summary>
public sealed class ChatOutput
{
    private readonly StringBuilder _content = new(), _reasoning = new();

    public List<ChatToolCall> Calls { get; } = new();
    public string Content => _content.ToString();
    /// <summary>The reasoning, or null when the model wrote none.</summary>
    public string? Reasoning => _reasoning.Length > 0 ? _reasoning.ToString() : null;
    public bool HasContent => _content.Length > 0;

    public void Add(IReadOnlyList<ChatOutputEvent> events)
    {
        foreach (var e in events)
        {
            switch (e)
            {
                case ContentDelta c: _content.Append(c.Text); break;
                case ReasoningDelta r: _reasoning.Append(r.Text); break;
                case ToolCallDelta t: Calls.Add(t.Call); break;
            }
        }
    }

    /// <summary>Parses a whole text at once.</summary>
    public static ChatOutput Parse(string text, ChatOutputOptions options)
    {
        var parser = new ChatOutputParser(options);
        var output = new ChatOutput();
        output.Add(parser.Push(text));
        output.Add(parser.Finish());
        return output;
    }
}
