using System.Globalization;
using System.Text;

namespace Strata.Chat;

internal enum TokenKind { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof }

internal readonly record struct Token(TokenKind Kind, string Value, int Pos, long IntValue = 0, double FloatValue = 0)
{
    public bool Is(TokenKind kind, string value) => Kind == kind && Value == value;
    public bool IsOp(string op) => Kind == TokenKind.Op && Value == op;
    public bool IsName(string name) => Kind == TokenKind.Name && Value == name;
}

/// <summary>
/// Splits a Jinja template into text and tag tokens, applying whitespace control the way Hugging Face renders chat
/// templates: <c>{%- -%} {{- -}} {#- -#}</c> strip all adjacent whitespace, trim_blocks removes the first newline after a
/// block or comment tag, lstrip_blocks removes spaces and tabs between a line start and a block or comment tag
/// (<c>{%+</c> opts out). Comments are dropped. Tags are lexed with a bracket balance, so <c>}}</c> inside a dict literal
/// or a string does not end the tag.
/// </summary>
internal sealed class JinjaLexer
{
    private enum SegKind { Text, Var, Block, Comment }

    private sealed class Segment
    {
        public SegKind Kind;
        public int Start, End;          // text: the source range; tags: the opening position
        public string Text = "";
        public bool TrimLeft, TrimRight, NoLstrip;
        public List<Token>? Tokens;
        public int EndPos;
    }

    private readonly string _src;
    private readonly int[] _lineStarts;

    private static readonly string[] Ops =
        ["//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"];

    private JinjaLexer(string src)
    {
        _src = src;
        var starts = new List<int> { 0 };
        for (int i = 0; i < src.Length; i++)
            if (src[i] == '\n') starts.Add(i + 1);
        _lineStarts = starts.ToArray();
    }

    public static List<Token> Tokenize(string src, out Func<int, (int Line, int Column)> locate)
    {
        var lexer = new JinjaLexer(src);
        locate = lexer.Locate;
        return lexer.Run();
    }

    public (int Line, int Column) Locate(int pos)
    {
        int i = Array.BinarySearch(_lineStarts, pos);
        if (i < 0) i = ~i - 1;
        return (i + 1, pos - _lineStarts[i] + 1);
    }

    private ChatTemplateException Error(string message, int pos)
    {
        var (line, col) = Locate(pos);
        return new ChatTemplateException(message, line, col);
    }

    private List<Token> Run()
    {
        var segs = Scan();
        // Whitespace control on text segments, from their neighbouring tags.
        for (int i = 0; i < segs.Count; i++)
        {
            var s = segs[i];
            if (s.Kind != SegKind.Text) continue;
            string t = s.Text;
            Segment? prev = i > 0 ? segs[i - 1] : null, next = i + 1 < segs.Count ? segs[i + 1] : null;
            int cutStart = 0, cutEnd = t.Length;
            if (prev is not null)
            {
                if (prev.TrimRight) cutStart = t.Length - t.TrimStart().Length;
                else if (prev.Kind is SegKind.Block or SegKind.Comment)
                    cutStart = t.StartsWith("\r\n", StringComparison.Ordinal) ? 2 : t.StartsWith('\n') ? 1 : 0;
            }
            if (next is not null)
            {
                if (next.TrimLeft) cutEnd = t.TrimEnd().Length;
                else if (next.Kind is SegKind.Block or SegKind.Comment && !next.NoLstrip)
                {
                    // lstrip_blocks: only when the tag is the first non-blank thing on its source line.
                    int k = t.Length;
                    while (k > 0 && (t[k - 1] == ' ' || t[k - 1] == '\t')) k--;
                    bool lineStart = k > 0 ? t[k - 1] == '\n' : prev is null;
                    if (lineStart) cutEnd = k;
                }
            }
            s.Text = cutStart >= cutEnd ? "" : t[cutStart..cutEnd];
        }

        var tokens = new List<Token>();
        foreach (var s in segs)
        {
            switch (s.Kind)
            {
                case SegKind.Text:
                    if (s.Text.Length > 0) tokens.Add(new Token(TokenKind.Text, s.Text, s.Start));
                    break;
                case SegKind.Var:
                    tokens.Add(new Token(TokenKind.VarBegin, "{{", s.Start));
                    tokens.AddRange(s.Tokens!);
                    tokens.Add(new Token(TokenKind.VarEnd, "}}", s.EndPos));
                    break;
                case SegKind.Block:
                    tokens.Add(new Token(TokenKind.BlockBegin, "{%", s.Start));
                    tokens.AddRange(s.Tokens!);
                    tokens.Add(new Token(TokenKind.BlockEnd, "%}", s.EndPos));
                    break;
            }
        }
        tokens.Add(new Token(TokenKind.Eof, "", _src.Length));
        return tokens;
    }

    private List<Segment> Scan()
    {
        var segs = new List<Segment>();
        int pos = 0, n = _src.Length;
        while (pos < n)
        {
            int open = FindTagOpen(pos);
            if (open < 0)
            {
                segs.Add(new Segment { Kind = SegKind.Text, Start = pos, End = n, Text = _src[pos..] });
                break;
            }
            if (open > pos) segs.Add(new Segment { Kind = SegKind.Text, Start = pos, End = open, Text = _src[pos..open] });
            char c = _src[open + 1];
            var seg = new Segment { Kind = c == '{' ? SegKind.Var : c == '%' ? SegKind.Block : SegKind.Comment, Start = open };
            int p = open + 2;
            if (p < n && _src[p] == '-') { seg.TrimLeft = true; p++; }
            else if (p < n && _src[p] == '+') { seg.NoLstrip = true; p++; }
            if (seg.Kind == SegKind.Comment)
            {
                int end = _src.IndexOf("#}", p, StringComparison.Ordinal);
                if (end < 0) throw Error("unclosed comment '{#'", open);
                seg.TrimRight = end > p && _src[end - 1] == '-';
                seg.EndPos = end;
                pos = end + 2;
            }
            else
            {
                seg.Tokens = LexTag(seg.Kind == SegKind.Var ? '}' : '%', ref p, out bool trimRight, open);
                seg.TrimRight = trimRight;
                seg.EndPos = p - 2;
                pos = p;
                if (seg.Kind == SegKind.Block && seg.Tokens.Count == 1 && seg.Tokens[0].IsName("raw"))
                {
                    pos = ScanRaw(seg, pos, segs);
                    continue;
                }
            }
            segs.Add(seg);
        }
        return segs;
    }

    /// <summary>{% raw %}...{% endraw %}: the body is text, verbatim.</summary>
    private int ScanRaw(Segment rawTag, int pos, List<Segment> segs)
    {
        int search = pos;
        while (true)
        {
            int open = _src.IndexOf("{%", search, StringComparison.Ordinal);
            if (open < 0) throw Error("missing '{% endraw %}'", rawTag.Start);
            int p = open + 2;
            bool trimLeft = p < _src.Length && _src[p] == '-';
            if (p < _src.Length && (_src[p] == '-' || _src[p] == '+')) p++;
            int q = p;
            while (q < _src.Length && char.IsWhiteSpace(_src[q])) q++;
            if (string.CompareOrdinal(_src, q, "endraw", 0, 6) == 0)
            {
                q += 6;
                while (q < _src.Length && char.IsWhiteSpace(_src[q])) q++;
                bool trimRight = q < _src.Length && _src[q] == '-';
                if (trimRight) q++;
                if (string.CompareOrdinal(_src, q, "%}", 0, 2) == 0)
                {
                    // The raw tag itself behaves like a comment for whitespace control.
                    segs.Add(new Segment { Kind = SegKind.Comment, Start = rawTag.Start, TrimLeft = rawTag.TrimLeft, NoLstrip = rawTag.NoLstrip, TrimRight = rawTag.TrimRight });
                    segs.Add(new Segment { Kind = SegKind.Text, Start = pos, End = open, Text = _src[pos..open] });
                    segs.Add(new Segment { Kind = SegKind.Comment, Start = open, TrimLeft = trimLeft, TrimRight = trimRight });
                    return q + 2;
                }
            }
            search = open + 2;
        }
    }

    private int FindTagOpen(int from)
    {
        int i = from;
        while (true)
        {
            i = _src.IndexOf('{', i);
            if (i < 0 || i + 1 >= _src.Length) return -1;
            char c = _src[i + 1];
            if (c == '{' || c == '%' || c == '#') return i;
            i++;
        }
    }

    private List<Token> LexTag(char closer, ref int p, out bool trimRight, int open)
    {
        var tokens = new List<Token>();
        int depth = 0, n = _src.Length;
        while (true)
        {
            while (p < n && char.IsWhiteSpace(_src[p])) p++;
            if (p >= n) throw Error(closer == '}' ? "unclosed '{{'" : "unclosed '{%'", open);
            if (depth == 0)
            {
                if (_src[p] == '-' && p + 2 < n && _src[p + 1] == closer && _src[p + 2] == '}')
                {
                    trimRight = true;
                    p += 3;
                    return tokens;
                }
                if (_src[p] == closer && p + 1 < n && _src[p + 1] == '}')
                {
                    trimRight = false;
                    p += 2;
                    return tokens;
                }
            }
            char c = _src[p];
            int start = p;
            if (char.IsAsciiLetter(c) || c == '_')
            {
                while (p < n && (char.IsAsciiLetterOrDigit(_src[p]) || _src[p] == '_')) p++;
                tokens.Add(new Token(TokenKind.Name, _src[start..p], start));
            }
            else if (char.IsAsciiDigit(c))
            {
                tokens.Add(LexNumber(ref p));
            }
            else if (c == '\'' || c == '"')
            {
                tokens.Add(new Token(TokenKind.String, LexString(ref p), start));
            }
            else
            {
                string? op = null;
                foreach (var o in Ops)
                    if (string.CompareOrdinal(_src, p, o, 0, o.Length) == 0) { op = o; break; }
                if (op is null) throw Error($"unexpected character '{c}'", p);
                if (op is "(" or "[" or "{") depth++;
                else if (op is ")" or "]" or "}")
                {
                    if (depth == 0) throw Error($"unexpected '{op}'", p);
                    depth--;
                }
                p += op.Length;
                tokens.Add(new Token(TokenKind.Op, op, start));
            }
        }
    }

    private Token LexNumber(ref int p)
    {
        int start = p, n = _src.Length;
        bool isFloat = false;
        while (p < n && (char.IsAsciiDigit(_src[p]) || _src[p] == '_')) p++;
        if (p + 1 < n && _src[p] == '.' && char.IsAsciiDigit(_src[p + 1]))
        {
            isFloat = true;
            p++;
            while (p < n && (char.IsAsciiDigit(_src[p]) || _src[p] == '_')) p++;
        }
        if (p < n && (_src[p] == 'e' || _src[p] == 'E'))
        {
            int q = p + 1;
            if (q < n && (_src[q] == '+' || _src[q] == '-')) q++;
            if (q < n && char.IsAsciiDigit(_src[q]))
            {
                isFloat = true;
                p = q;
                while (p < n && char.IsAsciiDigit(_src[p])) p++;
            }
        }
        string text = _src[start..p].Replace("_", "", StringComparison.Ordinal);
        if (isFloat)
            return new Token(TokenKind.Float, text, start, FloatValue: double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture));
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v))
            throw Error($"integer literal '{text}' is too large", start);
        return new Token(TokenKind.Int, text, start, IntValue: v);
    }

    /// <summary>A Python string literal body, with Python's escapes (unknown escapes keep their backslash).</summary>
    private string LexString(ref int p)
    {
        char quote = _src[p];
        int start = p++;
        var sb = new StringBuilder();
        while (true)
        {
            if (p >= _src.Length) throw Error("unterminated string literal", start);
            char c = _src[p++];
            if (c == quote) return sb.ToString();
            if (c != '\\')
            {
                sb.Append(c);
                continue;
            }
            if (p >= _src.Length) throw Error("unterminated string literal", start);
            char e = _src[p++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '0': sb.Append('\0'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case '\n': break; // line continuation
                case 'x': sb.Append(HexEscape(ref p, 2, start)); break;
                case 'u': sb.Append(HexEscape(ref p, 4, start)); break;
                case 'U': sb.Append(HexEscape(ref p, 8, start)); break;
                default: sb.Append('\\').Append(e); break;
            }
        }
    }

    private string HexEscape(ref int p, int digits, int start)
    {
        if (p + digits > _src.Length || !int.TryParse(_src.AsSpan(p, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int cp)
            || cp > 0x10FFFF || cp is >= 0xD800 and <= 0xDFFF && digits == 8)
            throw Error("invalid escape sequence in string literal", start);
        p += digits;
        return cp is >= 0xD800 and <= 0xDFFF ? ((char)cp).ToString() : char.ConvertFromUtf32(cp);
    }
}
