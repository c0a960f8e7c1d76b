using System.Text;

namespace Strata.Engine;

/// <summary>
/// Passes generated text through to a listener, holding back any tail that could still become a stop string, so a
/// stop string is never streamed out even in part.
/// </summary>
internal sealed class StopStringFilter(IReadOnlyList<string> stops, Action<string>? onText)
{
    private readonly StringBuilder _all = new();
    private int _emitted; // chars of _all already passed to the listener
    private readonly int _longestStop = stops.Count == 0 ? 0 : stops.Max(x => x.Length);

    public string Text => _all.ToString();

    /// <summary>The stop string that ended the text, once one has.</summary>
    public string? Matched { get; private set; }

    /// <summary>Adds text; returns true when a stop string has appeared (the text is cut before it).</summary>
    public bool Push(string piece)
    {
        if (piece.Length == 0) return false;
        _all.Append(piece);
        // A stop string can only start in text not yet emitted (the held-back tail was a prefix of one), so only that
        // window is searched: the cost per token does not grow with the output.
        int windowStart = Math.Max(0, _emitted - _longestStop);
        string window = _all.ToString(windowStart, _all.Length - windowStart);
        int cut = -1;
        foreach (var stop in stops)
        {
            if (stop.Length == 0) continue;
            int at = window.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) (cut, Matched) = (at, stop);
        }
        if (cut >= 0)
        {
            _all.Length = windowStart + cut;
            Emit(_all.Length);
            return true;
        }
        Emit(_all.Length - HeldBack(window));
        return false;
    }

    public void Finish(string tail)
    {
        _all.Append(tail);
        Emit(_all.Length);
    }

    /// <summary>Length of the longest suffix of s that is a proper prefix of some stop string.</summary>
    private int HeldBack(string s)
    {
        int hold = 0;
        foreach (var stop in stops)
            for (int k = Math.Min(stop.Length - 1, s.Length); k > hold; k--)
                if (string.CompareOrdinal(s, s.Length - k, stop, 0, k) == 0) { hold = k; break; }
        return hold;
    }

    private void Emit(int upTo)
    {
        if (upTo <= _emitted) return;
        onText?.Invoke(_all.ToString(_emitted, upTo - _emitted));
        _emitted = upTo;
    }
}
