using System.Globalization;

namespace Strata.Grammar;

/// <summary>
/// Reads llama.cpp's GBNF: rules <c>name ::= body</c>; alternatives <c>|</c>; groups <c>( )</c>; <c>* + ?</c>,
/// <c>{m}</c>, <c>{m,}</c>, <c>{m,n}</c> (and <c>{,n}</c>) repetition; string literals and character classes
/// (<c>[a-z]</c>, <c>[^...]</c>) with the escapes <c>\n \r \t \\ \" \[ \] \xHH \uHHHH \UHHHHHHHH</c>; <c>.</c> for any
/// character; <c>#</c> comments. A rule ends at the end of its line unless the next line does not start a new rule
/// (llama.cpp requires continuation lines to sit inside parentheses; both are read here). The start rule is
/// <c>root</c>.
/// </summary>
public static class Gbnf
{
    /// <summary>Deeper nesting of parentheses is refused rather than risking the parser's stack.</summary>
    public const int MaxNesting = 256;
    /// <summary>The largest count a repetition may name.</summary>
    public const int MaxRepeat = 100_000;

    /// <summary>Parses and checks GBNF text; the start rule is <paramref name="start"/>.</summary>
    /// <exception cref="GrammarException">with line:column and what is wrong.</exception>
    public static Grammar Parse(string text, string start = "root")
    {
        ArgumentNullException.ThrowIfNull(text);
        var rules = new GbnfReader(text).ReadRules();
        return Check(rules, start);
    }

    private static Grammar Check(List<GrammarRule> rules, string start)
    {
        var defined = new Dictionary<string, GrammarRule>(StringComparer.Ordinal);
        foreach (var r in rules)
        {
            if (defined.TryGetValue(r.Name, out var first))
                throw new GrammarException($"GBNF {r.Line}:{r.Column}: rule '{r.Name}' is already defined at {first.Line}:{first.Column}");
            defined[r.Name] = r;
        }
        if (!defined.ContainsKey(start))
            throw new GrammarException(rules.Count == 0 ? "GBNF: the grammar is empty: it needs a rule 'root ::= ...'" : $"GBNF: the grammar has no '{start}' rule");
        foreach (var r in rules) CheckRefs(r.Body, defined);
        return new Grammar(rules, start);
    }

    private static void CheckRefs(GrammarNode node, Dictionary<string, GrammarRule> defined)
    {
        switch (node)
        {
            case GrammarRuleRef r when !defined.ContainsKey(r.Name):
                throw new GrammarException($"GBNF {r.Line}:{r.Column}: undefined rule '{r.Name}'");
            case GrammarSequence s: foreach (var i in s.Items) CheckRefs(i, defined); break;
            case GrammarAlternation a: foreach (var o in a.Options) CheckRefs(o, defined); break;
            case GrammarRepeat p: CheckRefs(p.Item, defined); break;
        }
    }

    /// <summary>Whether a rule name may contain the character (llama.cpp's word characters, plus '_').</summary>
    internal static bool IsNameChar(char c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '-' or '_';

    /// <summary>A recursive-descent reader over the text, tracking the position for errors.</summary>
    private sealed class GbnfReader(string s)
    {
        private int _pos;
        private int _depth;

        public List<GrammarRule> ReadRules()
        {
            var rules = new List<GrammarRule>();
            SkipSpace(newlines: true);
            while (_pos < s.Length)
            {
                rules.Add(ReadRule());
                SkipSpace(newlines: true);
            }
            return rules;
        }

        private GrammarRule ReadRule()
        {
            int at = _pos;
            if (!IsNameChar(Peek)) throw Error(_pos, $"expected a rule name, found {Describe(_pos)}");
            string name = ReadName();
            SkipSpace(newlines: false);
            if (string.CompareOrdinal(s, _pos, "::=", 0, 3) != 0) throw Error(_pos, $"expected '::=' after rule name '{name}', found {Describe(_pos)}");
            _pos += 3;
            SkipSpace(newlines: true);
            var body = ReadAlternation(nested: false);
            if (_pos < s.Length && s[_pos] == ')') throw Error(_pos, "unbalanced parenthesis: ')' without a matching '('");
            var (line, col) = LineColumn(at);
            return new GrammarRule(name, body, line, col);
        }

        private GrammarNode ReadAlternation(bool nested)
        {
            var options = new List<GrammarNode> { ReadSequence(nested) };
            while (_pos < s.Length && s[_pos] == '|')
            {
                _pos++;
                SkipSpace(newlines: true);
                options.Add(ReadSequence(nested));
            }
            return options.Count == 1 ? options[0] : new GrammarAlternation(options);
        }

        private GrammarNode ReadSequence(bool nested)
        {
            var items = new List<GrammarNode>();
            while (true)
            {
                SkipSpace(newlines: nested);
                if (_pos >= s.Length) break;
                char c = s[_pos];
                if (c is '\n' or '\r')
                {
                    // At the top level a line break ends the rule when a new rule (or the end) follows.
                    if (NextLineStartsRule()) break;
                    SkipSpace(newlines: true);
                    continue;
                }
                if (c is '|' or ')') break;
                int at = _pos;
                GrammarNode item;
                switch (c)
                {
                    case '"': item = ReadLiteral(); break;
                    case '[': item = ReadClass(); break;
                    case '.': _pos++; item = new GrammarCharClass([], Negated: true); break;
                    case '(':
                    {
                        if (++_depth > MaxNesting) throw Error(at, $"parentheses nested deeper than {MaxNesting} levels");
                        _pos++;
                        SkipSpace(newlines: true);
                        var inner = ReadAlternation(nested: true);
                        SkipSpace(newlines: true);
                        if (_pos >= s.Length || s[_pos] != ')') throw Error(at, "unbalanced parenthesis: '(' is never closed");
                        _pos++;
                        _depth--;
                        item = inner;
                        break;
                    }
                    case '*' or '+' or '?' or '{':
                        throw Error(at, $"'{c}' has nothing before it to repeat");
                    default:
                        if (!IsNameChar(c)) throw Error(at, $"unexpected {Describe(at)}");
                        string name = ReadName();
                        int after = _pos;
                        SkipSpace(newlines: false);
                        if (string.CompareOrdinal(s, _pos, "::=", 0, 3) == 0)
                            throw Error(at, $"'{name} ::=' must start on a new line");
                        _pos = after;
                        var (line, col) = LineColumn(at);
                        item = new GrammarRuleRef(name, line, col);
                        break;
                }
                items.Add(ReadRepetitions(item));
            }
            return items.Count == 1 ? items[0] : new GrammarSequence(items);
        }

        private GrammarNode ReadRepetitions(GrammarNode item)
        {
            while (_pos < s.Length)
            {
                int at = _pos;
                switch (s[_pos])
                {
                    case '*': _pos++; item = new GrammarRepeat(item, 0, null); break;
                    case '+': _pos++; item = new GrammarRepeat(item, 1, null); break;
                    case '?': _pos++; item = new GrammarRepeat(item, 0, 1); break;
                    case '{':
                    {
                        _pos++;
                        SkipSpace(newlines: false);
                        int? min = ReadCount();
                        SkipSpace(newlines: false);
                        int? max = min;
                        if (Peek == ',')
                        {
                            _pos++;
                            SkipSpace(newlines: false);
                            max = ReadCount();
                            SkipSpace(newlines: false);
                        }
                        else if (min is null) throw Error(_pos, $"expected a number in '{{...}}', found {Describe(_pos)}");
                        if (Peek != '}') throw Error(_pos, $"expected '}}' to close the repetition at {Where(at)}, found {Describe(_pos)}");
                        _pos++;
                        if (max is { } x && x < (min ?? 0)) throw Error(at, $"repetition {{{min},{max}}} has its maximum below its minimum");
                        item = new GrammarRepeat(item, min ?? 0, max);
                        break;
                    }
                    default: return item;
                }
            }
            return item;
        }

        private int? ReadCount()
        {
            int start = _pos;
            while (_pos < s.Length && char.IsAsciiDigit(s[_pos])) _pos++;
            if (_pos == start) return null;
            if (_pos - start > 6 || int.Parse(s.AsSpan(start, _pos - start), CultureInfo.InvariantCulture) is var n && n > MaxRepeat)
                throw Error(start, $"repetition count {s[start.._pos]} is larger than {MaxRepeat}");
            return n;
        }

        private GrammarLiteral ReadLiteral()
        {
            int open = _pos++;
            var sb = new System.Text.StringBuilder();
            while (true)
            {
                if (_pos >= s.Length || s[_pos] is '\n' or '\r') throw Error(open, "unterminated string literal");
                if (s[_pos] == '"') { _pos++; break; }
                sb.Append(char.ConvertFromUtf32(ReadChar()));
            }
            return new GrammarLiteral(sb.ToString());
        }

        private GrammarCharClass ReadClass()
        {
            int open = _pos++;
            bool negated = false;
            if (Peek == '^') { negated = true; _pos++; }
            var ranges = new List<(int, int)>();
            while (true)
            {
                if (_pos >= s.Length || s[_pos] is '\n' or '\r') throw Error(open, "unterminated character class: '[' is never closed");
                if (s[_pos] == ']') { _pos++; break; }
                int at = _pos;
                int lo = ReadChar(), hi = lo;
                if (Peek == '-' && _pos + 1 < s.Length && s[_pos + 1] != ']')
                {
                    _pos++;
                    if (_pos >= s.Length || s[_pos] is '\n' or '\r') throw Error(open, "unterminated character class: '[' is never closed");
                    hi = ReadChar();
                    if (hi < lo) throw Error(at, $"character range {s[at.._pos]} is out of order");
                }
                ranges.Add((lo, hi));
            }
            return new GrammarCharClass(ranges, negated);
        }

        /// <summary>One character of a literal or class, escapes decoded; surrogate pairs read as one code point.</summary>
        private int ReadChar()
        {
            int at = _pos;
            char c = s[_pos++];
            if (c != '\\')
            {
                if (char.IsHighSurrogate(c) && _pos < s.Length && char.IsLowSurrogate(s[_pos])) return char.ConvertToUtf32(c, s[_pos++]);
                return c;
            }
            if (_pos >= s.Length) throw Error(at, "a '\\' escape ends the text");
            char e = s[_pos++];
            switch (e)
            {
                case 'n': return '\n';
                case 'r': return '\r';
                case 't': return '\t';
                case '\\' or '"' or '[' or ']' or '-' or '^' or '/' or '\'': return e;
                case 'x': return ReadHex(at, 2);
                case 'u': return ReadHex(at, 4);
                case 'U': return ReadHex(at, 8);
                default: throw Error(at, $"unknown escape '\\{e}'");
            }
        }

        private int ReadHex(int at, int digits)
        {
            if (_pos + digits > s.Length || !int.TryParse(s.AsSpan(_pos, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int v)
                || s.AsSpan(_pos, digits).ContainsAnyExcept("0123456789abcdefABCDEF"))
                throw Error(at, $"escape '{s[at..Math.Min(s.Length, _pos + digits)]}' needs {digits} hexadecimal digits");
            _pos += digits;
            if (v > 0x10FFFF) throw Error(at, $"escape '{s[at.._pos]}' is beyond the last Unicode code point");
            return v;
        }

        private string ReadName()
        {
            int start = _pos;
            while (_pos < s.Length && IsNameChar(s[_pos])) _pos++;
            return s[start.._pos];
        }

        /// <summary>Skips spaces, tabs and comments, and line breaks too when <paramref name="newlines"/>.</summary>
        private void SkipSpace(bool newlines)
        {
            while (_pos < s.Length)
            {
                char c = s[_pos];
                if (c is ' ' or '\t' || (newlines && c is '\n' or '\r')) _pos++;
                else if (c == '#') { while (_pos < s.Length && s[_pos] is not ('\n' or '\r')) _pos++; }
                else break;
            }
        }

        /// <summary>Looks past line breaks, blank lines and comments: true at the end or where <c>name ::=</c> follows.</summary>
        private bool NextLineStartsRule()
        {
            int save = _pos;
            SkipSpace(newlines: true);
            bool rule = _pos >= s.Length;
            if (!rule && IsNameChar(s[_pos]))
            {
                ReadName();
                SkipSpace(newlines: false);
                rule = string.CompareOrdinal(s, _pos, "::=", 0, 3) == 0;
            }
            _pos = save;
            return rule;
        }

        private char Peek => _pos < s.Length ? s[_pos] : '\0';

        private string Describe(int at) => at >= s.Length ? "the end of the text" : s[at] switch
        {
            '\n' or '\r' => "the end of the line",
            var c => $"'{c}'",
        };

        private (int Line, int Column) LineColumn(int at)
        {
            int line = 1, col = 1;
            for (int i = 0; i < at && i < s.Length; i++)
            {
                if (s[i] == '\n') { line++; col = 1; }
                else col++;
            }
            return (line, col);
        }

        private string Where(int at)
        {
            var (l, c) = LineColumn(at);
            return $"{l}:{c}";
        }

        private GrammarException Error(int at, string message) => new($"GBNF {Where(at)}: {message}");
    }
}
