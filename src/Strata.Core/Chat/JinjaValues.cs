using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Strata.Chat;

// Runtime values mirror Python's: null = None, bool, long (int), double (float), string, List<object?> (list),
// JTuple (tuple), JRange (range), OrderedDictionary<object, object?> (dict), JNamespace, JCallable, LoopInfo, and the
// Undefined singleton (Jinja's default Undefined: renders empty, is falsy, iterates as empty).

internal sealed class Undefined
{
    public static readonly Undefined Instance = new();
    private Undefined() { }
    public override string ToString() => "";
}

internal sealed class JTuple(object?[] items) : IReadOnlyList<object?>
{
    public readonly object?[] Items = items;
    public object? this[int index] => Items[index];
    public int Count => Items.Length;
    public IEnumerator<object?> GetEnumerator() => ((IEnumerable<object?>)Items).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => Items.GetEnumerator();
}

/// <summary>A lazy <c>range(start, stop, step)</c>, so that a huge range costs nothing until iterated.</summary>
internal sealed class JRange(long start, long stop, long step) : IReadOnlyList<object?>
{
    public readonly long Start = start, Stop = stop, Step = step;

    public int Count
    {
        get
        {
            long n = Step > 0 ? (Stop - Start + Step - 1) / Step : (Start - Stop - Step - 1) / -Step;
            return (int)Math.Clamp(n, 0, int.MaxValue);
        }
    }

    public object? this[int index] => Start + index * Step;

    public IEnumerator<object?> GetEnumerator()
    {
        int n = Count;
        for (int i = 0; i < n; i++) yield return Start + i * Step;
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

internal sealed class JNamespace
{
    public readonly Dictionary<string, object?> Attrs = new(StringComparer.Ordinal);
}

internal sealed record CallArgs(List<object?> Args, List<(string Name, object? Value)> Kwargs)
{
    public object? Get(int index, string name, object? fallback = null)
    {
        foreach (var (k, v) in Kwargs)
            if (k == name) return v;
        return index >= 0 && index < Args.Count ? Args[index] : fallback;
    }

    public bool Has(int index, string name) => index >= 0 && index < Args.Count || Kwargs.Exists(k => k.Name == name);
}

internal sealed class JCallable(string name, Func<JinjaInterpreter, CallArgs, object?> invoke)
{
    public readonly string Name = name;
    public readonly Func<JinjaInterpreter, CallArgs, object?> Invoke = invoke;
}

internal sealed class LoopInfo
{
    public int Index0, Length;
    public object? Prev = Undefined.Instance, Next = Undefined.Instance;
    public int Depth0;
}

internal sealed class DictKeyComparer : IEqualityComparer<object>
{
    public static readonly DictKeyComparer Instance = new();

    public new bool Equals(object? x, object? y) => JinjaValues.Eq(x, y);

    public int GetHashCode(object obj) => obj switch
    {
        bool b => b ? 1 : 0,
        long l => l.GetHashCode(),
        double d when d == Math.Floor(d) && Math.Abs(d) < 9e18 => ((long)d).GetHashCode(),
        double d => d.GetHashCode(),
        string s => StringComparer.Ordinal.GetHashCode(s),
        JTuple t => t.Items.Aggregate(17, (h, e) => h * 31 + (e is null ? 0 : GetHashCode(e))),
        _ => obj.GetHashCode(),
    };
}

internal static class JinjaValues
{
    public static OrderedDictionary<object, object?> NewDict() => new(DictKeyComparer.Instance);

    public static bool IsNumber(object? v) => v is long or double or bool;

    public static bool IsSequence(object? v) => v is IReadOnlyList<object?>;

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        Undefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        JTuple => "tuple",
        JRange => "range",
        OrderedDictionary<object, object?> => "dict",
        JNamespace => "Namespace",
        JCallable => "function",
        LoopInfo => "LoopContext",
        _ => v.GetType().Name,
    };

    public static bool IsTrue(object? v) => v switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        IReadOnlyList<object?> l => l.Count > 0,
        OrderedDictionary<object, object?> d => d.Count > 0,
        _ => true,
    };

    public static double ToDouble(object? v) => v switch
    {
        bool b => b ? 1 : 0,
        long l => l,
        double d => d,
        _ => throw new InvalidCastException(),
    };

    public static bool Eq(object? a, object? b)
    {
        if (a is null || b is null) return a is null && b is null;
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return ToDouble(a) == ToDouble(b);
            return ToLong(a) == ToLong(b);
        }
        if (a is string sa) return b is string sb && string.Equals(sa, sb, StringComparison.Ordinal);
        if (a is List<object?> la) return b is List<object?> lb && SeqEq(la, lb);
        if (a is JTuple ta) return b is JTuple tb && SeqEq(ta, tb);
        if (a is JRange ra) return b is JRange rb && SeqEq(ra, rb);
        if (a is OrderedDictionary<object, object?> da)
        {
            if (b is not OrderedDictionary<object, object?> db || da.Count != db.Count) return false;
            foreach (var (k, v) in da)
                if (!db.TryGetValue(k, out var w) || !Eq(v, w)) return false;
            return true;
        }
        return ReferenceEquals(a, b);
    }

    private static bool SeqEq(IReadOnlyList<object?> a, IReadOnlyList<object?> b)
    {
        if (a.Count != b.Count) return false;
        for (int i = 0; i < a.Count; i++)
            if (!Eq(a[i], b[i])) return false;
        return true;
    }

    public static long ToLong(object? v) => v switch
    {
        bool b => b ? 1 : 0,
        long l => l,
        _ => throw new InvalidCastException(),
    };

    /// <summary>Python's str(): what <c>{{ value }}</c> renders.</summary>
    public static string ToStr(object? v) => v switch
    {
        string s => s,
        null => "None",
        Undefined => "",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FloatRepr(d),
        _ => Repr(v),
    };

    /// <summary>Python's repr(), as used inside rendered lists and dicts.</summary>
    public static string Repr(object? v)
    {
        var sb = new StringBuilder();
        Repr(v, sb, 0);
        return sb.ToString();
    }

    private static void Repr(object? v, StringBuilder sb, int depth)
    {
        if (depth > 100) { sb.Append("..."); return; }
        switch (v)
        {
            case string s: StrRepr(s, sb); break;
            case List<object?> l:
                sb.Append('[');
                for (int i = 0; i < l.Count; i++) { if (i > 0) sb.Append(", "); Repr(l[i], sb, depth + 1); }
                sb.Append(']');
                break;
            case JTuple t:
                sb.Append('(');
                for (int i = 0; i < t.Count; i++) { if (i > 0) sb.Append(", "); Repr(t[i], sb, depth + 1); }
                if (t.Count == 1) sb.Append(',');
                sb.Append(')');
                break;
            case JRange r:
                sb.Append("range(").Append(r.Start).Append(", ").Append(r.Stop);
                if (r.Step != 1) sb.Append(", ").Append(r.Step);
                sb.Append(')');
                break;
            case OrderedDictionary<object, object?> d:
                sb.Append('{');
                bool first = true;
                foreach (var (k, val) in d)
                {
                    if (!first) sb.Append(", ");
                    first = false;
                    Repr(k, sb, depth + 1);
                    sb.Append(": ");
                    Repr(val, sb, depth + 1);
                }
                sb.Append('}');
                break;
            case JNamespace ns:
                sb.Append("<Namespace {");
                bool f = true;
                foreach (var (k, val) in ns.Attrs)
                {
                    if (!f) sb.Append(", ");
                    f = false;
                    StrRepr(k, sb);
                    sb.Append(": ");
                    Repr(val, sb, depth + 1);
                }
                sb.Append("}>");
                break;
            case JCallable c: sb.Append("<function ").Append(c.Name).Append('>'); break;
            case LoopInfo: sb.Append("<LoopContext>"); break;
            case Undefined: sb.Append("Undefined"); break;
            default: sb.Append(ToStr(v)); break;
        }
    }

    private static void StrRepr(string s, StringBuilder sb)
    {
        char q = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        sb.Append(q);
        foreach (char c in s)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c == q) sb.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7f) sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append(q);
    }

    /// <summary>Python's float repr: shortest round-trip digits, positional for exponents in [-4, 16), else 1e-05 style.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        // Shortest round-trip digits: "R" gives them, in either notation; normalise to digits + exponent.
        string shortest = d.ToString("R", CultureInfo.InvariantCulture);
        bool neg = shortest.StartsWith('-');
        if (neg) shortest = shortest[1..];
        int exp;
        string mant;
        int ePos = shortest.IndexOfAny(['E', 'e']);
        if (ePos >= 0)
        {
            exp = int.Parse(shortest.AsSpan(ePos + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            mant = shortest[..ePos];
        }
        else
        {
            exp = 0;
            mant = shortest;
        }
        int dot = mant.IndexOf('.');
        string intPart = dot >= 0 ? mant[..dot] : mant, frac = dot >= 0 ? mant[(dot + 1)..] : "";
        string digits = (intPart + frac).TrimStart('0');
        int lead = (intPart + frac).Length - digits.Length;
        // decimal exponent of the first significant digit
        int e10 = exp + intPart.Length - 1 - lead;
        digits = digits.TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        var sb = new StringBuilder();
        if (neg) sb.Append('-');
        if (e10 >= -4 && e10 < 16)
        {
            if (e10 >= 0)
            {
                if (digits.Length <= e10 + 1) sb.Append(digits).Append('0', e10 + 1 - digits.Length).Append(".0");
                else sb.Append(digits, 0, e10 + 1).Append('.').Append(digits, e10 + 1, digits.Length - e10 - 1);
            }
            else sb.Append("0.").Append('0', -e10 - 1).Append(digits);
        }
        else
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            sb.Append('e').Append(e10 < 0 ? '-' : '+').Append(Math.Abs(e10).ToString("00", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    /// <summary>Converts a .NET value passed by the caller (strings, numbers, dictionaries, sequences, JSON) to a template value.</summary>
    public static object? FromDotNet(object? v, int depth = 0)
    {
        if (depth > 64) throw new ChatTemplateException("template variable nests too deeply");
        switch (v)
        {
            case null: return null;
            case string or bool or long or double or Undefined or JCallable or JNamespace: return v;
            case JTuple or JRange: return v;
            case int i: return (long)i;
            case uint u: return (long)u;
            case short s: return (long)s;
            case ushort us: return (long)us;
            case byte b: return (long)b;
            case sbyte sb: return (long)sb;
            case ulong ul: return ul <= long.MaxValue ? (object)(long)ul : (double)ul;
            case float f: return (double)f;
            case decimal m: return (double)m;
            case char c: return c.ToString();
            case ChatMessage m: return MessageToDict(m);
            case JsonElement je: return FromJson(je, depth);
            case IDictionary dict:
            {
                var d = NewDict();
                foreach (DictionaryEntry e in dict) d[FromDotNet(e.Key, depth + 1) ?? "None"] = FromDotNet(e.Value, depth + 1);
                return d;
            }
            case IEnumerable<KeyValuePair<string, object?>> kvs:
            {
                var d = NewDict();
                foreach (var (k, val) in kvs) d[k] = FromDotNet(val, depth + 1);
                return d;
            }
            case IEnumerable seq:
            {
                var l = new List<object?>();
                foreach (var e in seq) l.Add(FromDotNet(e, depth + 1));
                return l;
            }
            default: return v.ToString();
        }
    }

    public static OrderedDictionary<object, object?> MessageToDict(ChatMessage m)
    {
        var d = NewDict();
        d["role"] = m.Role;
        d["content"] = m.Content;
        if (m.ToolCalls is { Count: > 0 } calls)
            d["tool_calls"] = calls.Select(c => (object?)ToolCallToDict(c)).ToList();
        if (m.ToolCallId is not null) d["tool_call_id"] = m.ToolCallId;
        if (m.Name is not null) d["name"] = m.Name;
        if (m.ReasoningContent is not null) d["reasoning_content"] = m.ReasoningContent;
        return d;
    }

    /// <summary>
    /// A call as Hugging Face templates expect it: <c>{"id", "type": "function", "function": {"name", "arguments"}}</c>
    /// with the arguments as a dict (templates write them with tojson, as vLLM and llama.cpp pass them); arguments
    /// that are not a JSON object stay the string they were.
    /// </summary>
    private static OrderedDictionary<object, object?> ToolCallToDict(Tools.ChatToolCall c)
    {
        object? arguments = c.Arguments;
        try
        {
            using var doc = JsonDocument.Parse(c.Arguments, new JsonDocumentOptions { MaxDepth = 64 });
            if (doc.RootElement.ValueKind == JsonValueKind.Object) arguments = FromJson(doc.RootElement, 1);
        }
        catch (JsonException)
        {
        }
        var function = NewDict();
        function["name"] = c.Name;
        function["arguments"] = arguments;
        var d = NewDict();
        d["id"] = c.Id;
        d["type"] = "function";
        d["function"] = function;
        return d;
    }

    private static object? FromJson(JsonElement e, int depth)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.String: return e.GetString();
            case JsonValueKind.True: return true;
            case JsonValueKind.False: return false;
            case JsonValueKind.Null: return null;
            case JsonValueKind.Undefined: return Undefined.Instance;
            case JsonValueKind.Number:
                return e.TryGetInt64(out long l) ? (object)l : e.GetDouble();
            case JsonValueKind.Array:
                return e.EnumerateArray().Select(x => FromDotNet(x, depth + 1)).ToList();
            default:
            {
                var d = NewDict();
                foreach (var p in e.EnumerateObject()) d[p.Name] = FromDotNet(p.Value, depth + 1);
                return d;
            }
        }
    }
}
