namespace Strata.Chat.Tools;

/// <summary>
/// Finds where a JSON object or array that arrives piece by piece ends, without parsing it: brackets outside strings
/// are counted, so each character is looked at once however the text is split. What lies inside is checked later,
/// by parsing the whole value.
/// </summary>
internal struct JsonExtent
{
    private int _depth;
    private bool _inString, _escape;

    /// <summary>
    /// Feeds <paramref name="text"/> from <paramref name="from"/> on (its first character, on the first call, is the
    /// opening bracket). Returns the index just past the closing bracket, or -1 when the value has not ended yet.
    /// </summary>
    public int Feed(string text, int from)
    {
        for (int i = from; i < text.Length; i++)
        {
            char c = text[i];
            if (_inString)
            {
                if (_escape) _escape = false;
                else if (c == '\\') _escape = true;
                else if (c == '"') _inString = false;
                continue;
            }
            switch (c)
            {
                case '"': _inString = true; break;
                case '{' or '[': _depth++; break;
                case '}' or ']':
                    if (--_depth == 0) return i + 1;
                    break;
            }
        }
        return -1;
    }
}
