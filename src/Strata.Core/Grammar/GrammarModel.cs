using System.Globalization;
using System.Text;

namespace Strata.Grammar;

/// <summary>A node of a rule's body: what the parser read, before it is compiled to an automaton.</summary>
public abstract record GrammarNode;

/// <summary>Items matched one after the other; no items matches the empty string.</summary>
public sealed record GrammarSequence(IReadOnlyList<GrammarNode> Items) : GrammarNode;

/// <summary>One of several alternatives.</summary>
public sealed record GrammarAlternation(IReadOnlyList<GrammarNode> Options) : GrammarNode;

/// <summary>A string literal: its characters (Unicode code points) in order.</summary>
public sealed record GrammarLiteral(string Text) : GrammarNode;

/// <summary>One character from inclusive code-point ranges (or, negated, any character outside them; <c>.</c> is a
/// negated class with no ranges).</summary>
public sealed record GrammarCharClass(IReadOnlyList<(int Lo, int Hi)> Ranges, bool Negated) : GrammarNode;

/// <summary>A reference to a rule by name, with where it was written (for errors).</summary>
public sealed record GrammarRuleRef(string Name, int Line, int Column) : GrammarNode;

/// <summary>An item repeated between <see cref="Min"/> and <see cref="Max"/> times (no maximum: unbounded).</summary>
public sealed record GrammarRepeat(GrammarNode Item, int Min, int? Max) : GrammarNode;

/// <summary>A rule <c>name ::= body</c> and where it was defined.</summary>
public sealed record GrammarRule(string Name, GrammarNode Body, int Line, int Column);

/// <summary>
/// A parsed and checked GBNF grammar (from <see cref="Gbnf.Parse"/>): its rules, the start rule and the byte-level
/// automaton it compiles to. Every rule referenced is defined, no rule is left-recursive and the automaton is bounded
/// in size, so matching can never hang or grow without bound.
/// </summary>
public sealed class Grammar
{
    private readonly Dictionary<string, GrammarRule> _byName;
    private GrammarDfa? _dfa;

    internal Grammar(IReadOnlyList<GrammarRule> rules, string start)
    {
        Rules = rules;
        Start = start;
        _byName = rules.ToDictionary(r => r.Name, StringComparer.Ordinal);
        Automaton = ByteNfaBuilder.Build(this);
    }

    public IReadOnlyList<GrammarRule> Rules { get; }
    /// <summary>The rule a match starts from (<c>root</c>).</summary>
    public string Start { get; }
    public GrammarRule this[string name] => _byName[name];
    public bool Contains(string name) => _byName.ContainsKey(name);

    internal ByteNfa Automaton { get; }

    /// <summary>The lazily built deterministic automaton shared by every matcher of this grammar.</summary>
    internal GrammarDfa Dfa
    {
        get
        {
            var d = Volatile.Read(ref _dfa);
            if (d is not null) return d;
            Interlocked.CompareExchange(ref _dfa, new GrammarDfa(Automaton), null);
            return _dfa!;
        }
    }

    /// <summary>Whether the whole of <paramref name="text"/> (as UTF-8) is in the grammar's language.</summary>
    public bool Matches(string text)
    {
        var s = Run(text);
        return s is not null && s.CanEnd;
    }

    /// <summary>Whether <paramref name="text"/> can be continued to something the grammar accepts.</summary>
    public bool IsPrefix(string text) => Run(text) is { IsDead: false };

    private DfaState? Run(string text)
    {
        var dfa = Dfa;
        var s = dfa.Start;
        foreach (byte b in Encoding.UTF8.GetBytes(text))
        {
            s = dfa.Step(s, b);
            if (s.IsDead) return null;
        }
        return s;
    }

    /// <summary>The grammar as GBNF text (one rule per line), which <see cref="Gbnf.Parse"/> reads back to the same grammar.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        foreach (var r in Rules)
        {
            sb.Append(r.Name).Append(" ::= ");
            Write(sb, r.Body, top: true);
            sb.Append('\n');
        }
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, GrammarNode node, bool top)
    {
        switch (node)
        {
            case GrammarSequence s:
                if (s.Items.Count == 0) { if (!top) sb.Append("()"); break; }
                for (int i = 0; i < s.Items.Count; i++)
                {
                    if (i > 0) sb.Append(' ');
                    var item = s.Items[i];
                    bool wrap = item is GrammarAlternation;
                    if (wrap) sb.Append('(');
                    Write(sb, item, top: false);
                    if (wrap) sb.Append(')');
                }
                break;
            case GrammarAlternation a:
                for (int i = 0; i < a.Options.Count; i++)
                {
                    if (i > 0) sb.Append(" | ");
                    Write(sb, a.Options[i], top: true);
                }
                break;
            case GrammarLiteral l:
                sb.Append('"');
                foreach (var rune in l.Text.EnumerateRunes()) AppendChar(sb, rune.Value, inClass: false);
                sb.Append('"');
                break;
            case GrammarCharClass c:
                if (c.Negated && c.Ranges.Count == 0) { sb.Append('.'); break; }
                sb.Append(c.Negated ? "[^" : "[");
                foreach (var (lo, hi) in c.Ranges)
                {
                    AppendChar(sb, lo, inClass: true);
                    if (hi != lo) { sb.Append('-'); AppendChar(sb, hi, inClass: true); }
                }
                sb.Append(']');
                break;
            case GrammarRuleRef r:
                sb.Append(r.Name);
                break;
            case GrammarRepeat r:
            {
                bool wrap = r.Item is GrammarSequence or GrammarAlternation or GrammarRepeat;
                if (wrap) sb.Append('(');
                Write(sb, r.Item, top: true);
                if (wrap) sb.Append(')');
                sb.Append((r.Min, r.Max) switch
                {
                    (0, null) => "*",
                    (1, null) => "+",
                    (0, 1) => "?",
                    (var m, null) => $"{{{m},}}",
                    (var m, int x) when m == x => $"{{{m}}}",
                    (var m, int x) => $"{{{m},{x}}}",
                });
                break;
            }
        }
    }

    /// <summary>A character as GBNF writes it inside "..." or [...]: printable ASCII as is, the rest escaped.</summary>
    internal static void AppendChar(StringBuilder sb, int c, bool inClass)
    {
        switch (c)
        {
            case '\\': sb.Append(@"\\"); return;
            case '"' when !inClass: sb.Append("\\\""); return;
            case ']' when inClass: sb.Append(@"\]"); return;
            case '[' when inClass: sb.Append(@"\["); return;
            case '-' when inClass: sb.Append(@"\x2D"); return;   // \x escapes rather than \- so llama.cpp reads it too
            case '^' when inClass: sb.Append(@"\x5E"); return;
            case '\n': sb.Append(@"\n"); return;
            case '\r': sb.Append(@"\r"); return;
            case '\t': sb.Append(@"\t"); return;
        }
        if (c >= 0x20 && c < 0x7F) sb.Append((char)c);
        else if (c < 0x100) sb.Append(@"\x").Append(c.ToString("X2", CultureInfo.InvariantCulture));
        else if (c < 0x10000) sb.Append(@"\u").Append(c.ToString("X4", CultureInfo.InvariantCulture));
        else sb.Append(@"\U").Append(c.ToString("X8", CultureInfo.InvariantCulture));
    }
}
