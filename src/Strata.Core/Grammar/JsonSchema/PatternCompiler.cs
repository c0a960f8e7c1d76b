using System.Globalization;
using System.Text;

namespace Strata.Grammar;

/// <summary>
/// Compiles a JSON Schema <c>pattern</c> (the ECMA-262 subset schemas use: literals, escapes such as <c>\d \w \s</c>,
/// classes, <c>.</c>, groups, alternation, the quantifiers <c>* + ? {m} {m,} {m,n}</c>, and <c>^ $</c> at the ends) to
/// GBNF for the content of a JSON string: the characters a value may hold, each written as JSON must write it
/// (<c>"</c> and <c>\</c> escaped, control characters as escapes). An unanchored pattern matches anywhere, so any
/// characters may come before or after it, as JSON Schema says. Lookaround, backreferences and word boundaries
/// cannot be expressed in a grammar: they are errors naming the construct.
/// </summary>
internal sealed class PatternCompiler
{
    private const int MaxNesting = 128;
    private readonly string _p;
    private readonly string _path;
    private readonly string _anyChar;   // the rule for one JSON string character
    private int _pos;
    private int _depth;

    private PatternCompiler(string pattern, string path, string anyChar)
    {
        _p = pattern;
        _path = path;
        _anyChar = anyChar;
    }

    /// <summary>The GBNF of the string's content (without the quotes).</summary>
    public static string Compile(string pattern, string path, string anyChar) => new PatternCompiler(pattern, path, anyChar).Run();

    private string Run()
    {
        bool start = _pos < _p.Length && _p[_pos] == '^';
        if (start) _pos++;
        string body = Alternation();
        bool end = false;
        if (_pos < _p.Length && _p[_pos] == '$') { end = true; _pos++; }
        if (_pos < _p.Length) throw Error(_p[_pos] == ')' ? "unbalanced ')'" : $"unexpected '{_p[_pos]}'");
        var sb = new StringBuilder();
        if (!start) sb.Append(_anyChar).Append("* ");
        sb.Append('(').Append(body).Append(')');
        if (!end) sb.Append(' ').Append(_anyChar).Append('*');
        return sb.ToString();
    }

    private string Alternation()
    {
        var options = new List<string> { Sequence() };
        while (_pos < _p.Length && _p[_pos] == '|')
        {
            _pos++;
            options.Add(Sequence());
        }
        return string.Join(" | ", options);
    }

    private string Sequence()
    {
        var items = new List<string>();
        while (_pos < _p.Length)
        {
            char c = _p[_pos];
            if (c is '|' or ')') break;
            if (c == '$')
            {
                // Only at the very end (of the pattern, not of a group) can '$' be expressed.
                if (_pos == _p.Length - 1 && _depth == 0) break;
                throw Error("'$' is supported only at the end of the pattern");
            }
            if (c == '^') throw Error("'^' is supported only at the start of the pattern");
            string atom = Atom();
            items.Add(Quantified(atom));
        }
        return items.Count == 0 ? "\"\"" : string.Join(" ", items);
    }

    private string Quantified(string atom)
    {
        if (_pos >= _p.Length) return atom;
        string? q = null;
        switch (_p[_pos])
        {
            case '*': q = "*"; _pos++; break;
            case '+': q = "+"; _pos++; break;
            case '?': q = "?"; _pos++; break;
            case '{':
            {
                int close = _p.IndexOf('}', _pos);
                var inner = close < 0 ? "" : _p[(_pos + 1)..close];
                var parts = inner.Split(',');
                bool ok = close > 0 && parts.Length is 1 or 2 && parts.All(x => x.Length == 0 || x.All(char.IsAsciiDigit)) && parts[0].Length > 0;
                if (!ok) return atom;   // ECMA-262: a '{' that does not open a quantifier is a literal (handled by Atom next)
                int min = int.Parse(parts[0], CultureInfo.InvariantCulture);
                int? max = parts.Length == 1 ? min : parts[1].Length == 0 ? null : int.Parse(parts[1], CultureInfo.InvariantCulture);
                if (min > Gbnf.MaxRepeat || max > Gbnf.MaxRepeat) throw Error($"repetition {{{inner}}} is larger than {Gbnf.MaxRepeat}");
                if (max < min) throw Error($"repetition {{{inner}}} has its maximum below its minimum");
                q = max is null ? $"{{{min},}}" : max == min ? $"{{{min}}}" : $"{{{min},{max}}}";
                _pos = close + 1;
                break;
            }
        }
        if (q is null) return atom;
        // Lazy ('?') quantifiers match the same strings; possessive ones do not exist in ECMA-262.
        if (_pos < _p.Length && _p[_pos] == '?') _pos++;
        return "(" + atom + ")" + q;
    }

    private string Atom()
    {
        char c = _p[_pos];
        switch (c)
        {
            case '(':
            {
                int open = _pos++;
                if (_pos < _p.Length && _p[_pos] == '?')
                {
                    string rest = _p[_pos..];
                    if (rest.StartsWith("?:", StringComparison.Ordinal)) _pos += 2;
                    else if (rest.StartsWith("?<", StringComparison.Ordinal) && !rest.StartsWith("?<=", StringComparison.Ordinal) && !rest.StartsWith("?<!", StringComparison.Ordinal))
                    {
                        int close = _p.IndexOf('>', _pos);
                        if (close < 0) throw Error("unterminated group name");
                        _pos = close + 1;
                    }
                    else throw Error(rest.StartsWith("?=", StringComparison.Ordinal) || rest.StartsWith("?!", StringComparison.Ordinal) || rest.StartsWith("?<", StringComparison.Ordinal)
                        ? "lookaround assertions cannot be expressed in a grammar" : $"unsupported group '({rest[..Math.Min(3, rest.Length)]}'");
                }
                if (++_depth > MaxNesting) throw Error($"groups nested deeper than {MaxNesting}");
                string inner = Alternation();
                _depth--;
                if (_pos >= _p.Length || _p[_pos] != ')') throw Error($"'(' at {open} is never closed");
                _pos++;
                return "(" + inner + ")";
            }
            case '[':
                return Chars(ClassBody());
            case '.':
                _pos++;
                return Chars(([('\n', '\n'), ('\r', '\r'), (0x2028, 0x2029)], true));
            case '\\':
            {
                _pos++;
                var set = Escape(inClass: false);
                return Chars(set);
            }
            case '*' or '+' or '?':
                throw Error($"'{c}' has nothing before it to repeat");
            default:
            {
                int cp = char.ConvertToUtf32(_p, _pos);
                _pos += char.IsSurrogatePair(_p, _pos) ? 2 : 1;
                return Chars(([(cp, cp)], false));
            }
        }
    }

    /// <summary>A class body after '[': its ranges and whether it is negated.</summary>
    private (List<(int, int)> Ranges, bool Negated) ClassBody()
    {
        int open = _pos++;
        bool negated = _pos < _p.Length && _p[_pos] == '^';
        if (negated) _pos++;
        var ranges = new List<(int, int)>();
        bool first = true;
        while (true)
        {
            if (_pos >= _p.Length) throw Error($"'[' at {open} is never closed");
            if (_p[_pos] == ']' && !first) { _pos++; break; }
            first = false;
            var (lo, loSet) = ClassAtom();
            if (loSet is not null) { ranges.AddRange(loSet); continue; }
            if (_pos + 1 < _p.Length && _p[_pos] == '-' && _p[_pos + 1] != ']')
            {
                _pos++;
                var (hi, hiSet) = ClassAtom();
                if (hiSet is not null) throw Error("a class escape cannot end a range");
                if (hi < lo) throw Error("character range out of order");
                ranges.Add((lo, hi));
            }
            else ranges.Add((lo, lo));
        }
        return (ranges, negated);
    }

    /// <summary>One character of a class, or a set for escapes such as \d.</summary>
    private (int Char, List<(int, int)>? Set) ClassAtom()
    {
        if (_p[_pos] == '\\')
        {
            _pos++;
            var (ranges, negated) = Escape(inClass: true);
            if (!negated && ranges.Count == 1 && ranges[0].Item1 == ranges[0].Item2) return (ranges[0].Item1, null);
            return (0, negated ? Utf8Ranges.Normalize(ranges, true) : ranges);
        }
        int cp = char.ConvertToUtf32(_p, _pos);
        _pos += char.IsSurrogatePair(_p, _pos) ? 2 : 1;
        return (cp, null);
    }

    private static readonly List<(int, int)> Digit = [('0', '9')];
    private static readonly List<(int, int)> Word = [('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')];
    private static readonly List<(int, int)> Space = [('\t', '\r'), (' ', ' '), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
        (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF)];

    /// <summary>The escape after a backslash, as a character set.</summary>
    private (List<(int, int)> Ranges, bool Negated) Escape(bool inClass)
    {
        if (_pos >= _p.Length) throw Error("the pattern ends with '\\'");
        char e = _p[_pos++];
        switch (e)
        {
            case 'd': return (Digit, false);
            case 'D': return (Digit, true);
            case 'w': return (Word, false);
            case 'W': return (Word, true);
            case 's': return (Space, false);
            case 'S': return (Space, true);
            case 'n': return One('\n');
            case 'r': return One('\r');
            case 't': return One('\t');
            case 'f': return One('\f');
            case 'v': return One('\v');
            case '0': return One('\0');
            case 'b' when inClass: return One('\b');
            case 'b' or 'B': throw Error("word boundaries (\\b, \\B) cannot be expressed in a grammar");
            case >= '1' and <= '9': throw Error("backreferences cannot be expressed in a grammar");
            case 'x': return One(Hex(2));
            case 'u':
                if (_pos < _p.Length && _p[_pos] == '{')
                {
                    int close = _p.IndexOf('}', _pos);
                    if (close < 0) throw Error("unterminated \\u{...}");
                    string hex = _p[(_pos + 1)..close];
                    _pos = close + 1;
                    if (!int.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int v) || v > Utf8Ranges.MaxCodePoint) throw Error($"bad escape \\u{{{hex}}}");
                    return One(v);
                }
                return One(Hex(4));
            case 'p' or 'P': throw Error("Unicode property escapes (\\p{...}) are not supported");
            case 'k': throw Error("backreferences cannot be expressed in a grammar");
            case 'c': throw Error("control escapes (\\cX) are not supported");
            default:
                if (char.IsAsciiLetterOrDigit(e)) throw Error($"unknown escape '\\{e}'");
                return One(e);
        }
    }

    private static (List<(int, int)>, bool) One(int c) => ([(c, c)], false);

    private int Hex(int digits)
    {
        if (_pos + digits > _p.Length || !int.TryParse(_p.AsSpan(_pos, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int v))
            throw Error($"an escape needs {digits} hexadecimal digits");
        _pos += digits;
        return v;
    }

    /// <summary>
    /// A set of value characters as JSON string content: characters JSON writes as themselves in one class, and
    /// <c>"</c>, <c>\</c> and the control characters as their escapes. (A control character without a short escape
    /// is left out: patterns rarely ask for one, and the grammar stays small.)
    /// </summary>
    private static string Chars((List<(int, int)> Ranges, bool Negated) set)
    {
        var ranges = Utf8Ranges.Normalize(set.Ranges, set.Negated);
        bool Has(int c) => ranges.Any(r => r.Item1 <= c && c <= r.Item2);
        // The set minus the specials: the complement of (complement ∪ specials).
        var specials = new List<(int, int)> { (0, 0x1F), ('"', '"'), ('\\', '\\') };
        var allowed = Utf8Ranges.Normalize(Utf8Ranges.Normalize(ranges, true).Concat(specials).ToList(), true);
        var options = new List<string>();
        if (allowed.Count > 0) options.Add(allowed.Count == 1 && allowed[0].Item1 == allowed[0].Item2 ? GbnfRules.Literal(char.ConvertFromUtf32(allowed[0].Item1)) : GbnfRules.Class(allowed));
        foreach (var (ch, esc) in new (int, string)[] { ('"', "\\\""), ('\\', "\\\\"), ('\n', "\\n"), ('\r', "\\r"), ('\t', "\\t"), ('\b', "\\b"), ('\f', "\\f") })
            if (Has(ch)) options.Add(GbnfRules.Literal(esc));
        if (options.Count == 0) return "[^\\x00-\\U0010FFFF]";   // matches nothing: the pattern asks for characters JSON cannot hold here
        return options.Count == 1 ? options[0] : "(" + string.Join(" | ", options) + ")";
    }

    private GrammarException Error(string what) => new($"unsupported pattern at {_path}: {what} (in '{_p}')");
}
