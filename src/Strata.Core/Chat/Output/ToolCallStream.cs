using System.Text;
using Strata.Chat.Tools;

namespace Strata.Chat.Output;

/// <summary>
/// Splits an answer, as it streams, into content and calls in one family's syntax. Text that could begin a call is
/// held back until the call is complete and parses (then it is a call) or is not one (then it is content, as
/// written). Whitespace right before and after a call is dropped; an answer without calls comes out exactly as
/// generated.
/// </summary>
internal sealed class ToolCallStream
{
    private readonly ToolCallFormat _format;
    private readonly IReadOnlyList<string> _markers;
    private readonly bool _bareJson, _parallel;
    private readonly IReadOnlySet<string>? _allowed;
    private readonly Action<ParsedCall> _onCall;
    private readonly HeldSpace _content;
    private readonly StringBuilder _pending = new();
    private CallRegion? _region;
    private bool _atStart = true; // only whitespace since the answer began or the last call

    public ToolCallStream(ChatOutputOptions o, Action<string> onContent, Action<ParsedCall> onCall)
    {
        _format = o.Tools ?? ToolCallFormat.Generic;
        _markers = ToolCallFormats.Markers(_format);
        _bareJson = ToolCallFormats.BareJson(_format);
        _parallel = o.ParallelCalls;
        _allowed = o.AllowedNames;
        _onCall = onCall;
        _content = new HeldSpace(onContent);
    }

    public int Calls { get; private set; }

    public void Push(string text)
    {
        if (text.Length == 0) return;
        if (_region is not null)
        {
            if (!Settle(_region.Push(text), final: false)) return;
        }
        else _pending.Append(text);
        Scan(final: false);
    }

    public void Finish()
    {
        if (_region is not null) Settle(_region.Finish(), final: true);
        Scan(final: true);
        if (Calls == 0) _content.Flush();
        else _content.Drop();
    }

    private void Scan(bool final)
    {
        while (_region is null && _pending.Length > 0)
        {
            string s = _pending.ToString();
            _pending.Clear();
            if (_atStart && _bareJson)
            {
                int i = 0;
                while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
                if (i == s.Length)
                {
                    if (final) _content.Add(s);
                    else _pending.Append(s);
                    return;
                }
                if (s[i] == '{')
                {
                    _content.Add(s[..i]);
                    Open("", s[i..], final);
                    continue;
                }
                _atStart = false;
            }
            int at = -1;
            string? marker = null;
            foreach (var m in _markers)
            {
                int k = s.IndexOf(m, StringComparison.Ordinal);
                if (k >= 0 && (at < 0 || k < at)) (at, marker) = (k, m);
            }
            if (marker is not null)
            {
                _content.Add(s[..at]);
                Open(marker, s[(at + marker.Length)..], final);
                continue;
            }
            int hold = final ? 0 : MarkerPrefixAtEnd(s);
            _content.Add(s[..(s.Length - hold)]);
            if (hold > 0) _pending.Append(s, s.Length - hold, hold);
            return;
        }
    }

    private void Open(string marker, string rest, bool final)
    {
        _region = ToolCallFormats.OpenRegion(_format, marker, _allowed);
        var status = _region.Push(rest);
        Settle(status, final);
    }

    /// <summary>Acts on a region's status; true when the region is over and its leftover text is pending again.</summary>
    private bool Settle(RegionStatus status, bool final)
    {
        var region = _region!;
        if (status == RegionStatus.Pending)
        {
            if (!final) return false;
            status = region.Finish();
        }
        string text = region.Text;
        if (status == RegionStatus.Done)
        {
            foreach (var call in region.Calls) Call(call);
            _atStart = true;
        }
        else
        {
            _content.Add(text[..region.End]);
            _atStart = false;
        }
        _region = null;
        _pending.Append(text, region.End, text.Length - region.End);
        return true;
    }

    private void Call(ParsedCall call)
    {
        _content.Drop();
        _content.TrimNextStart();
        if (!_parallel && Calls >= 1) return;
        Calls++;
        _onCall(call);
    }

    /// <summary>Length of the longest end of s that is a proper prefix of a marker (it may still become one).</summary>
    private int MarkerPrefixAtEnd(string s)
    {
        int hold = 0;
        foreach (var m in _markers)
            for (int k = Math.Min(m.Length - 1, s.Length); k > hold; k--)
                if (string.CompareOrdinal(s, s.Length - k, m, 0, k) == 0) { hold = k; break; }
        return hold;
    }
}
