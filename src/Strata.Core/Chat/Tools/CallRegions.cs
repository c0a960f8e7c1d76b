using System.Text;

namespace Strata.Chat.Tools;

/// <summary>How a region of the output that may hold calls stands after more text.</summary>
internal enum RegionStatus
{
    /// <summary>More text is needed to tell.</summary>
    Pending,
    /// <summary>The region held calls and ended at <see cref="CallRegion.End"/>; text after that is ordinary text again.</summary>
    Done,
    /// <summary>Not a call after all: the text before <see cref="CallRegion.End"/> is plain content, the rest is scanned again.</summary>
    Invalid,
}

/// <summary>
/// A stretch of output that opened like a call (a marker such as <c>&lt;tool_call&gt;</c>, or a bare '{'). It takes text
/// until it can tell whether it holds well-formed calls; nothing in it is shown before that, so a truncated or
/// malformed call can still become plain content.
/// </summary>
internal abstract class CallRegion(string opening, IReadOnlySet<string>? allowed)
{
    protected readonly StringBuilder Buffer = new(opening);
    protected readonly IReadOnlySet<string>? Allowed = allowed;
    protected readonly int OpeningLength = opening.Length;

    /// <summary>The region's text so far, its opening marker included.</summary>
    public string Text => Buffer.ToString();
    /// <summary>Where the region ended (Done) or where its plain content ends (Invalid).</summary>
    public int End { get; protected set; }
    /// <summary>Complete calls not yet taken by the parser.</summary>
    public List<ParsedCall> Calls { get; } = new();

    public RegionStatus Push(string text)
    {
        Buffer.Append(text);
        return Scan(final: false);
    }

    /// <summary>The output ended: the region is whatever it is now (never Pending).</summary>
    public RegionStatus Finish()
    {
        var s = Scan(final: true);
        if (s != RegionStatus.Pending) return s;
        End = Buffer.Length;
        return RegionStatus.Invalid;
    }

    protected abstract RegionStatus Scan(bool final);

    protected RegionStatus Invalid(int end)
    {
        End = end;
        return RegionStatus.Invalid;
    }

    protected RegionStatus Done(int end)
    {
        End = end;
        return RegionStatus.Done;
    }

    /// <summary>Index of the first non-whitespace character at or after i, or Buffer.Length.</summary>
    protected int SkipSpace(int i)
    {
        while (i < Buffer.Length && char.IsWhiteSpace(Buffer[i])) i++;
        return i;
    }

    /// <summary>Whether the buffer at i holds <paramref name="s"/> (1), a proper prefix of it that ends the buffer (0), or neither (-1).</summary>
    protected int Matches(int i, string s)
    {
        int n = Math.Min(s.Length, Buffer.Length - i);
        for (int k = 0; k < n; k++)
            if (Buffer[i + k] != s[k]) return -1;
        return n == s.Length ? 1 : 0;
    }
}

/// <summary>
/// Hermes, Qwen2.5 and Qwen3: <c>&lt;tool_call&gt;{"name": ..., "arguments": {...}}&lt;/tool_call&gt;</c>, one call per tag pair;
/// a missing closing tag is forgiven when the object is complete.
/// </summary>
internal sealed class HermesRegion(string opening, IReadOnlySet<string>? allowed) : CallRegion(opening, allowed)
{
    public const string Open = "<tool_call>", Close = "</tool_call>";
    private JsonExtent _json;
    private int _objectStart = -1, _objectEnd = -1, _scanned;

    protected override RegionStatus Scan(bool final)
    {
        if (_objectStart < 0)
        {
            int i = SkipSpace(OpeningLength);
            if (i == Buffer.Length) return RegionStatus.Pending;
            if (Buffer[i] != '{') return Invalid(OpeningLength);
            _objectStart = _scanned = i;
        }
        if (_objectEnd < 0)
        {
            string text = Buffer.ToString();
            int end = _json.Feed(text, _scanned);
            _scanned = text.Length;
            if (end < 0) return RegionStatus.Pending;
            _objectEnd = end;
            var calls = CallJson.TryRead(text[_objectStart.._objectEnd], Allowed);
            if (calls is not { Count: 1 }) return Invalid(_objectEnd);
            Calls.AddRange(calls);
        }
        int j = SkipSpace(_objectEnd);
        int m = Matches(j, Close);
        if (m == 1) return Done(j + Close.Length);
        if (m == 0 && !final) return RegionStatus.Pending;
        return Done(_objectEnd);
    }
}

/// <summary>
/// Llama 3.x and the generic format: JSON call objects, after <c>&lt;|python_tag|&gt;</c> or bare at the start of the
/// answer, several separated by ';'. Calls already complete stand when a later object is not one.
/// </summary>
internal sealed class JsonCallsRegion(string opening, IReadOnlySet<string>? allowed) : CallRegion(opening, allowed)
{
    private JsonExtent _json;
    private int _objectStart = -1, _scanned, _lastEnd = -1;

    protected override RegionStatus Scan(bool final)
    {
        while (true)
        {
            if (_objectStart < 0)
            {
                int i = SkipSpace(_lastEnd < 0 ? OpeningLength : _lastEnd);
                if (_lastEnd >= 0)
                {
                    if (i == Buffer.Length) return final ? Done(_lastEnd) : RegionStatus.Pending;
                    if (Buffer[i] != ';') return Done(_lastEnd);
                    i = SkipSpace(i + 1);
                }
                if (i == Buffer.Length) return final ? End() : RegionStatus.Pending;
                if (Buffer[i] != '{') return End();
                _objectStart = _scanned = i;
                _json = default;
            }
            string text = Buffer.ToString();
            int end = _json.Feed(text, _scanned);
            _scanned = text.Length;
            if (end < 0) return RegionStatus.Pending;
            var calls = CallJson.TryRead(text[_objectStart..end], Allowed);
            if (calls is null) return _lastEnd >= 0 ? Done(_lastEnd) : Invalid(end);
            Calls.AddRange(calls);
            _lastEnd = end;
            _objectStart = -1;
        }

        RegionStatus End() => _lastEnd >= 0 ? Done(_lastEnd) : Invalid(OpeningLength == 0 ? Buffer.Length : OpeningLength);
    }
}

/// <summary>
/// Mistral: <c>[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]</c> (v3 tokenizers), or the newer
/// <c>[TOOL_CALLS]name[ARGS]{...}</c> with an optional <c>[CALL_ID]id</c> before <c>[ARGS]</c>, one call per marker.
/// </summary>
internal sealed class MistralRegion(string opening, IReadOnlySet<string>? allowed) : CallRegion(opening, allowed)
{
    public const string Marker = "[TOOL_CALLS]", Args = "[ARGS]", CallId = "[CALL_ID]";
    private JsonExtent _json;
    private int _valueStart = -1, _scanned;
    private string? _name;

    protected override RegionStatus Scan(bool final)
    {
        if (_valueStart < 0)
        {
            int i = SkipSpace(OpeningLength);
            if (i == Buffer.Length) return final ? Invalid(OpeningLength) : RegionStatus.Pending;
            if (Buffer[i] is '[' or '{') _valueStart = i;
            else
            {
                // name[ARGS]{...} or name[CALL_ID]id[ARGS]{...}
                int nameEnd = i;
                while (nameEnd < Buffer.Length && IsNameChar(Buffer[nameEnd])) nameEnd++;
                if (nameEnd == Buffer.Length) return final ? Invalid(OpeningLength) : RegionStatus.Pending;
                if (nameEnd == i || Buffer[nameEnd] != '[') return Invalid(OpeningLength);
                int j = nameEnd;
                int callId = Matches(j, CallId);
                if (callId == 0) return final ? Invalid(OpeningLength) : RegionStatus.Pending;
                if (callId == 1)
                {
                    j += CallId.Length;
                    while (j < Buffer.Length && Buffer[j] != '[') j++;
                    if (j == Buffer.Length) return final ? Invalid(OpeningLength) : RegionStatus.Pending;
                }
                int args = Matches(j, Args);
                if (args == 0) return final ? Invalid(OpeningLength) : RegionStatus.Pending;
                if (args < 0) return Invalid(OpeningLength);
                int v = SkipSpace(j + Args.Length);
                if (v == Buffer.Length) return final ? Invalid(OpeningLength) : RegionStatus.Pending;
                if (Buffer[v] != '{') return Invalid(OpeningLength);
                _name = Buffer.ToString(i, nameEnd - i);
                _valueStart = v;
            }
            _scanned = _valueStart;
        }
        string text = Buffer.ToString();
        int end = _json.Feed(text, _scanned);
        _scanned = text.Length;
        if (end < 0) return RegionStatus.Pending;
        string value = text[_valueStart..end];
        List<ParsedCall>? calls;
        if (_name is null) calls = CallJson.TryRead(value, Allowed);
        else
        {
            // The arguments object alone: wrap it as a call to read it the same way.
            string call = $"{{\"name\": {System.Text.Json.JsonSerializer.Serialize(_name)}, \"arguments\": {value}}}";
            calls = CallJson.TryRead(call, Allowed);
        }
        if (calls is null) return Invalid(end);
        Calls.AddRange(calls);
        return Done(end);
    }

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.';
}
