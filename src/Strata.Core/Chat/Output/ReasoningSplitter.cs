using System.Text;

namespace Strata.Chat.Output;

/// <summary>
/// Separates a thinking model's reasoning from its answer as the text streams: a <c>&lt;think&gt;</c> block at the start of
/// the output (or one the prompt already opened) is reasoning, everything after <c>&lt;/think&gt;</c> the answer. Partial tags
/// are held back, and the whitespace around the reasoning is dropped (Qwen3 writes "&lt;think&gt;\n...\n&lt;/think&gt;\n\n").
/// A think block never closed (the output was cut) stays reasoning.
/// </summary>
internal sealed class ReasoningSplitter
{
    public const string Open = "<think>", Close = "</think>";
    private enum State { Start, Thinking, Answer }

    private readonly HeldSpace _reasoning;
    private readonly Action<string> _answer;
    private readonly StringBuilder _pending = new();
    private State _state;
    private bool _trimAnswerStart;

    public ReasoningSplitter(bool startsInReasoning, Action<string> onReasoning, Action<string> onAnswer)
    {
        _reasoning = new HeldSpace(onReasoning);
        _answer = onAnswer;
        if (startsInReasoning) BeginThinking();
    }

    /// <summary>True while the text is reasoning (so far).</summary>
    public bool InReasoning => _state == State.Thinking;

    public void Push(string text)
    {
        if (_state == State.Answer) Answer(text);
        else
        {
            _pending.Append(text);
            Scan(final: false);
        }
    }

    public void Finish()
    {
        if (_state != State.Answer) Scan(final: true);
        _reasoning.Drop();
    }

    private void BeginThinking()
    {
        _state = State.Thinking;
        _reasoning.TrimNextStart();
    }

    private void Answer(string text)
    {
        if (_trimAnswerStart)
        {
            text = text.TrimStart();
            if (text.Length == 0) return;
            _trimAnswerStart = false;
        }
        _answer(text);
    }

    private void Scan(bool final)
    {
        string s = _pending.ToString();
        _pending.Clear();
        if (_state == State.Start)
        {
            string t = s.TrimStart();
            if (t.StartsWith(Open, StringComparison.Ordinal))
            {
                BeginThinking();
                s = t[Open.Length..];
            }
            else if (!final && Open.StartsWith(t, StringComparison.Ordinal))
            {
                _pending.Append(s); // only whitespace, or the beginning of "<think>": wait for more
                return;
            }
            else
            {
                _state = State.Answer;
                Answer(s);
                return;
            }
        }
        int close = s.IndexOf(Close, StringComparison.Ordinal);
        if (close >= 0)
        {
            _reasoning.Add(s[..close]);
            _reasoning.Drop();
            _state = State.Answer;
            _trimAnswerStart = true;
            Answer(s[(close + Close.Length)..]);
            return;
        }
        int hold = final ? 0 : PrefixAtEnd(s, Close);
        _reasoning.Add(s[..(s.Length - hold)]);
        if (hold > 0) _pending.Append(s, s.Length - hold, hold);
    }

    private static int PrefixAtEnd(string s, string tag)
    {
        for (int k = Math.Min(tag.Length - 1, s.Length); k > 0; k--)
            if (string.CompareOrdinal(s, s.Length - k, tag, 0, k) == 0) return k;
        return 0;
    }
}
