using System.Text;

namespace Strata.Grammar;

/// <summary>
/// The rules a schema compiles to, written as GBNF: unique names under a prefix, the JSON primitives added on first
/// use, and escaping of literals. Every name starts with the prefix, so a caller can embed the rules in a larger
/// grammar next to other schemas' rules.
/// </summary>
internal sealed class GbnfRules
{
    private readonly string _prefix;
    private readonly List<(string Name, string Body)> _rules = new();
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly HashSet<string> _primitives = new(StringComparer.Ordinal);

    public GbnfRules(string prefix)
    {
        foreach (char c in prefix)
            if (!Gbnf.IsNameChar(c)) throw new GrammarException($"rule prefix '{prefix}' may contain only letters, digits, '-' and '_'");
        _prefix = prefix;
        _names.Add(RootName);
    }

    public string RootName => _prefix + "root";

    /// <summary>Bounded whitespace (llama.cpp's): a model cannot fill its output with spaces.</summary>
    public const string SpaceBody = "| \" \" | \"\\n\" [ \\t]{0,20}";

    private static readonly Dictionary<string, string> PrimitiveBodies = new(StringComparer.Ordinal)
    {
        ["space"] = SpaceBody,
        ["boolean"] = "\"true\" | \"false\"",
        ["null"] = "\"null\"",
        ["integer"] = "\"-\"? (\"0\" | [1-9] [0-9]{0,15})",
        ["number"] = "\"-\"? (\"0\" | [1-9] [0-9]{0,15}) (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?",
        ["char"] = "[^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})",
        ["string"] = "\"\\\"\" {char}* \"\\\"\"",
        ["value"] = "{object} | {array} | {string} | {number} | {boolean} | {null}",
        ["object"] = "\"{\" {space} ({string} {space} \":\" {space} {value} {space} (\",\" {space} {string} {space} \":\" {space} {value} {space})*)? \"}\"",
        ["array"] = "\"[\" {space} ({value} {space} (\",\" {space} {value} {space})*)? \"]\"",
    };

    /// <summary>The rule name of a JSON primitive, defining it (and what it uses) the first time.</summary>
    public string Primitive(string name)
    {
        string full = _prefix + name;
        if (_primitives.Add(name))
        {
            _names.Add(full);
            string body = PrimitiveBodies[name];
            // {x} in a body names another primitive.
            var sb = new StringBuilder();
            for (int i = 0; i < body.Length; i++)
            {
                if (body[i] == '{' && i + 1 < body.Length && char.IsAsciiLetterLower(body[i + 1]))
                {
                    int close = body.IndexOf('}', i);
                    sb.Append(Primitive(body[(i + 1)..close]));
                    i = close;
                }
                else sb.Append(body[i]);
            }
            _rules.Add((full, sb.ToString()));
        }
        return full;
    }

    /// <summary>Reserves a unique rule name from a hint (a property name, a $defs key).</summary>
    public string NewName(string hint)
    {
        var sb = new StringBuilder();
        foreach (char c in hint.ToLowerInvariant())
        {
            if (char.IsAsciiLetterOrDigit(c)) sb.Append(c);
            else if (sb.Length > 0 && sb[^1] != '-') sb.Append('-');
            if (sb.Length >= 40) break;
        }
        string stem = _prefix + (sb.ToString().Trim('-') is { Length: > 0 } s ? s : "rule");
        string name = stem;
        for (int i = 2; !_names.Add(name) || PrimitiveBodies.ContainsKey(name[_prefix.Length..]); i++) name = $"{stem}-{i}";
        return name;
    }

    public void Define(string name, string body) => _rules.Add((name, body));

    /// <summary>The GBNF text: the root rule first, then the others in the order they were defined.</summary>
    public string Write(string rootBody)
    {
        var sb = new StringBuilder();
        sb.Append(RootName).Append(" ::= ").Append(rootBody).Append('\n');
        foreach (var (name, body) in _rules) sb.Append(name).Append(" ::= ").Append(body).Append('\n');
        return sb.ToString();
    }

    /// <summary>A GBNF string literal matching exactly <paramref name="text"/>.</summary>
    public static string Literal(string text)
    {
        var sb = new StringBuilder("\"");
        foreach (var rune in text.EnumerateRunes()) Grammar.AppendChar(sb, rune.Value, inClass: false);
        return sb.Append('"').ToString();
    }

    /// <summary>A GBNF character class of the code-point ranges.</summary>
    public static string Class(IEnumerable<(int Lo, int Hi)> ranges)
    {
        var sb = new StringBuilder("[");
        foreach (var (lo, hi) in ranges)
        {
            Grammar.AppendChar(sb, lo, inClass: true);
            if (hi != lo) { sb.Append('-'); Grammar.AppendChar(sb, hi, inClass: true); }
        }
        return sb.Append(']').ToString();
    }

    /// <summary>A string as JSON writes it between its quotes (quotes, backslashes and control characters escaped).</summary>
    public static string JsonEscape(string s)
    {
        var sb = new StringBuilder();
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append(@"\\"); break;
                case '\n': sb.Append(@"\n"); break;
                case '\r': sb.Append(@"\r"); break;
                case '\t': sb.Append(@"\t"); break;
                case '\b': sb.Append(@"\b"); break;
                case '\f': sb.Append(@"\f"); break;
                default:
                    if (c < 0x20) sb.Append(@"\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.ToString();
    }
}
