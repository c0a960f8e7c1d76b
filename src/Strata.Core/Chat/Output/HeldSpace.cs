namespace Strata.Chat.Output;

/// <summary>
/// Releases text with its trailing whitespace held back until more text follows, so whitespace that turns out to sit
/// right before a call or a closing tag can be dropped rather than streamed.
/// </summary>
internal sealed class HeldSpace(Action<string> release)
{
    private string _held = "";
    private bool _trimStart;

    /// <summary>Leading whitespace of what comes next is dropped (after a call, after &lt;/think&gt;).</summary>
    public void TrimNextStart() => _trimStart = true;

    public void Add(string text)
    {
        if (text.Length == 0) return;
        if (_trimStart)
        {
            text = text.TrimStart();
            if (text.Length == 0) return;
            _trimStart = false;
        }
        int k = text.Length;
        while (k > 0 && char.IsWhiteSpace(text[k - 1])) k--;
        if (k == 0)
        {
            _held += text;
            return;
        }
        string now = _held.Length == 0 ? text[..k] : _held + text[..k];
        _held = text[k..];
        release(now);
    }

    public void Drop() => _held = "";

    public void Flush()
    {
        if (_held.Length > 0) release(_held);
        _held = "";
    }
}
