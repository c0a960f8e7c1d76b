using System.Globalization;
using System.Text;

namespace Strata.Chat;

// Filters, tests, methods of str/dict/list, and the global functions chat templates use.
internal sealed partial class JinjaInterpreter
{
    // ---------------- globals ----------------

    public static void AddGlobals(Scope g, ChatTemplateOptions opt)
    {
        g.Vars["range"] = new JCallable("range", static (interp, a) =>
        {
            long Int(object? v) => v is long or bool ? JinjaValues.ToLong(v) : throw interp.Fail($"range() arguments must be integers, not '{JinjaValues.TypeName(v)}'", true);
            if (a.Args.Count is < 1 or > 3) throw interp.Fail($"range expected 1 to 3 arguments, got {a.Args.Count}", true);
            long start = 0, stop, step = 1;
            if (a.Args.Count == 1) stop = Int(a.Args[0]);
            else
            {
                start = Int(a.Args[0]);
                stop = Int(a.Args[1]);
                if (a.Args.Count == 3) step = Int(a.Args[2]);
            }
            if (step == 0) throw interp.Fail("range() arg 3 must not be zero", true);
            return new JRange(start, stop, step);
        });
        g.Vars["namespace"] = new JCallable("namespace", static (interp, a) =>
        {
            var ns = new JNamespace();
            foreach (var arg in a.Args)
            {
                if (arg is not OrderedDictionary<object, object?> d) throw interp.Fail("namespace() takes only a dict positionally", true);
                foreach (var (k, v) in d) ns.Attrs[JinjaValues.ToStr(k)] = v;
            }
            foreach (var (k, v) in a.Kwargs) ns.Attrs[k] = v;
            return ns;
        });
        g.Vars["dict"] = new JCallable("dict", static (interp, a) =>
        {
            var d = JinjaValues.NewDict();
            foreach (var arg in a.Args)
            {
                if (arg is OrderedDictionary<object, object?> src) foreach (var (k, v) in src) d[k] = v;
                else throw interp.Fail("dict() takes only a dict positionally", true);
            }
            foreach (var (k, v) in a.Kwargs) d[k] = v;
            return d;
        });
        g.Vars["raise_exception"] = new JCallable("raise_exception", static (interp, a) =>
            throw new ChatTemplateException(JinjaValues.ToStr(a.Get(0, "message", "raise_exception() was called"))));
        g.Vars["strftime_now"] = new JCallable("strftime_now", (interp, a) =>
        {
            if (a.Get(0, "format") is not string fmt) throw interp.Fail("strftime_now() needs a format string", true);
            return Strftime(opt.Now?.Invoke() ?? DateTimeOffset.Now, fmt);
        });
    }

    internal static string Strftime(DateTimeOffset t, string fmt)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        for (int i = 0; i < fmt.Length; i++)
        {
            char c = fmt[i];
            if (c != '%' || i + 1 >= fmt.Length)
            {
                sb.Append(c);
                continue;
            }
            char f = fmt[++i];
            bool noPad = false;
            if (f == '-' && i + 1 < fmt.Length)
            {
                noPad = true;
                f = fmt[++i];
            }
            string Num(int v, int width) => noPad ? v.ToString(ci) : v.ToString(new string('0', width), ci);
            sb.Append(f switch
            {
                'a' => t.ToString("ddd", ci),
                'A' => t.ToString("dddd", ci),
                'b' or 'h' => t.ToString("MMM", ci),
                'B' => t.ToString("MMMM", ci),
                'd' => Num(t.Day, 2),
                'e' => noPad ? t.Day.ToString(ci) : t.Day.ToString(ci).PadLeft(2),
                'm' => Num(t.Month, 2),
                'y' => Num(t.Year % 100, 2),
                'Y' => t.Year.ToString(ci),
                'H' => Num(t.Hour, 2),
                'I' => Num(t.Hour % 12 == 0 ? 12 : t.Hour % 12, 2),
                'M' => Num(t.Minute, 2),
                'S' => Num(t.Second, 2),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'j' => Num(t.DayOfYear, 3),
                'f' => (t.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", ci),
                'z' => (t.Offset < TimeSpan.Zero ? "-" : "+") + t.Offset.ToString("hhmm", ci),
                'w' => ((int)t.DayOfWeek).ToString(ci),
                'u' => (t.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)t.DayOfWeek).ToString(ci),
                'F' => t.ToString("yyyy-MM-dd", ci),
                'T' => t.ToString("HH:mm:ss", ci),
                'D' => t.ToString("MM/dd/yy", ci),
                'R' => t.ToString("HH:mm", ci),
                'c' => t.ToString("ddd MMM ", ci) + t.Day.ToString(ci).PadLeft(2) + t.ToString(" HH:mm:ss yyyy", ci),
                'x' => t.ToString("MM/dd/yy", ci),
                'X' => t.ToString("HH:mm:ss", ci),
                '%' => "%",
                _ => "%" + (noPad ? "-" : "") + f,
            });
        }
        return sb.ToString();
    }

    // ---------------- filters ----------------

    private object? ApplyFilter(string name, object? value, List<Expr> argExprs, List<(string Name, Expr Value)> kwExprs, Scope scope, int pos)
    {
        var args = new List<object?>(argExprs.Count);
        foreach (var a in argExprs) args.Add(Eval(a, scope));
        var kwargs = new List<(string, object?)>(kwExprs.Count);
        foreach (var (k, v) in kwExprs) kwargs.Add((k, Eval(v, scope)));
        _pos = pos;
        return Filter(name, value, new CallArgs(args, kwargs), pos);
    }

    public object? Filter(string name, object? value, CallArgs a, int pos)
    {
        Step();
        switch (name)
        {
            case "trim":
            {
                string s = JinjaValues.ToStr(value);
                return a.Get(0, "chars") is string chars ? s.Trim(chars.ToCharArray()) : PyStrip(s, true, true);
            }
            case "length" or "count":
                return value switch
                {
                    string s => (long)s.Length,
                    IReadOnlyList<object?> l => (long)l.Count,
                    OrderedDictionary<object, object?> d => (long)d.Count,
                    Undefined => 0L,
                    _ => throw Fail($"object of type '{JinjaValues.TypeName(value)}' has no len()", pos),
                };
            case "upper": return JinjaValues.ToStr(value).ToUpperInvariant();
            case "lower": return JinjaValues.ToStr(value).ToLowerInvariant();
            case "capitalize": return Capitalize(JinjaValues.ToStr(value));
            case "title": return Title(JinjaValues.ToStr(value));
            case "string": return JinjaValues.ToStr(value);
            case "safe" or "forceescape" when name == "safe": return value;
            case "escape" or "e" or "forceescape": return HtmlEscape(JinjaValues.ToStr(value));
            case "tojson":
            {
                var indent = a.Get(0, "indent");
                string? ind = indent switch
                {
                    null or Undefined => null,
                    long n => new string(' ', (int)Math.Clamp(n, 0, 64)),
                    string s => s,
                    _ => throw Fail("tojson indent must be an integer", pos),
                };
                var sb = new StringBuilder();
                ToJson(value, sb, ind, 0, JinjaValues.IsTrue(a.Get(-1, "sort_keys", false)));
                return sb.ToString();
            }
            case "join":
            {
                string sep = JinjaValues.ToStr(a.Get(0, "d", ""));
                var attr = a.Get(1, "attribute");
                var sb = new StringBuilder();
                bool first = true;
                foreach (var x in Materialize(value))
                {
                    if (!first) sb.Append(sep);
                    first = false;
                    sb.Append(JinjaValues.ToStr(attr is null ? x : AttrPath(x, attr)));
                    CheckSize(sb.Length);
                }
                return sb.ToString();
            }
            case "default" or "d":
            {
                bool boolean = JinjaValues.IsTrue(a.Get(1, "boolean", false));
                bool useDefault = value is Undefined || boolean && !JinjaValues.IsTrue(value);
                return useDefault ? a.Get(0, "default_value", "") : value;
            }
            case "first":
            {
                if (value is IReadOnlyList<object?> l) return l.Count > 0 ? l[0] : Undefined.Instance;
                var items = Materialize(value);
                return items.Count > 0 ? items[0] : Undefined.Instance;
            }
            case "last":
            {
                if (value is IReadOnlyList<object?> l) return l.Count > 0 ? l[^1] : Undefined.Instance;
                var items = Materialize(value);
                return items.Count > 0 ? items[^1] : Undefined.Instance;
            }
            case "replace":
            {
                string s = JinjaValues.ToStr(value), old = JinjaValues.ToStr(a.Get(0, "old")), @new = JinjaValues.ToStr(a.Get(1, "new"));
                var count = a.Get(2, "count");
                return Replace(s, old, @new, count is long c ? c : -1);
            }
            case "list": return Materialize(value);
            case "reverse":
                if (value is string rs)
                {
                    var arr = rs.ToCharArray();
                    Array.Reverse(arr);
                    return new string(arr);
                }
                var reversed = Materialize(value);
                reversed.Reverse();
                return reversed;
            case "selectattr" or "rejectattr":
            {
                bool select = name == "selectattr";
                if (a.Args.Count < 1) throw Fail($"{name} needs an attribute name", pos);
                var attr = a.Args[0];
                string? test = a.Args.Count > 1 ? JinjaValues.ToStr(a.Args[1]) : null;
                var testArgs = a.Args.Skip(2).ToList();
                var result = new List<object?>();
                foreach (var x in Materialize(value))
                {
                    var v = AttrPath(x, attr);
                    bool ok = test is null ? JinjaValues.IsTrue(v) : ApplyTest(test, v, testArgs, pos);
                    if (ok == select) result.Add(x);
                }
                return result;
            }
            case "select" or "reject":
            {
                bool select = name == "select";
                string? test = a.Args.Count > 0 ? JinjaValues.ToStr(a.Args[0]) : null;
                var testArgs = a.Args.Skip(1).ToList();
                var result = new List<object?>();
                foreach (var x in Materialize(value))
                {
                    bool ok = test is null ? JinjaValues.IsTrue(x) : ApplyTest(test, x, testArgs, pos);
                    if (ok == select) result.Add(x);
                }
                return result;
            }
            case "map":
            {
                var result = new List<object?>();
                var attr = a.Get(-1, "attribute");
                if (attr is not null)
                {
                    var dflt = a.Get(-1, "default", Undefined.Instance);
                    foreach (var x in Materialize(value))
                    {
                        var v = AttrPath(x, attr);
                        result.Add(v is Undefined ? dflt : v);
                    }
                    return result;
                }
                if (a.Args.Count < 1) throw Fail("map needs a filter name or attribute=", pos);
                string filter = JinjaValues.ToStr(a.Args[0]);
                var rest = new CallArgs(a.Args.Skip(1).ToList(), a.Kwargs);
                foreach (var x in Materialize(value)) result.Add(Filter(filter, x, rest, pos));
                return result;
            }
            case "attr": return GetAttr(value, JinjaValues.ToStr(a.Get(0, "name")));
            case "int": return ToInt(value, a.Get(0, "default", 0L), a.Get(1, "base", 10L));
            case "float": return ToFloat(value, a.Get(0, "default", 0.0));
            case "abs":
                return value switch
                {
                    long l => (object)checked(Math.Abs(l)),
                    double d => Math.Abs(d),
                    bool b => b ? 1L : 0L,
                    _ => throw Fail($"bad operand type for abs(): '{JinjaValues.TypeName(value)}'", pos),
                };
            case "round":
            {
                double d = JinjaValues.IsNumber(value) ? JinjaValues.ToDouble(value) : throw Fail("round needs a number", pos);
                int prec = (int)(a.Get(0, "precision", 0L) is long p ? p : 0);
                string method = JinjaValues.ToStr(a.Get(1, "method", "common"));
                double scale = Math.Pow(10, prec);
                double r = method switch
                {
                    "ceil" => Math.Ceiling(d * scale) / scale,
                    "floor" => Math.Floor(d * scale) / scale,
                    _ => Math.Round(d * scale, MidpointRounding.AwayFromZero) / scale,
                };
                return r;
            }
            case "indent":
            {
                var w = a.Get(0, "width", 4L);
                string pad = w is string ws ? ws : new string(' ', (int)Math.Clamp(JinjaValues.IsNumber(w) ? JinjaValues.ToLong(w) : 4, 0, 1000));
                bool first = JinjaValues.IsTrue(a.Get(1, "first", false)), blank = JinjaValues.IsTrue(a.Get(2, "blank", false));
                string s = JinjaValues.ToStr(value);
                var lines = s.Split('\n');
                var sb = new StringBuilder();
                for (int i = 0; i < lines.Length; i++)
                {
                    if (i > 0) sb.Append('\n');
                    bool indentIt = (i > 0 || first) && (blank || lines[i].Trim().Length > 0);
                    if (indentIt) sb.Append(pad);
                    sb.Append(lines[i]);
                    CheckSize(sb.Length);
                }
                return sb.ToString();
            }
            case "items":
                if (value is Undefined) return new List<object?>();
                if (value is not OrderedDictionary<object, object?> id) throw Fail($"items filter needs a mapping, not '{JinjaValues.TypeName(value)}'", pos);
                return id.Select(kv => (object?)new JTuple([kv.Key, kv.Value])).ToList();
            case "dictsort":
            {
                if (value is not OrderedDictionary<object, object?> dd) throw Fail("dictsort needs a mapping", pos);
                bool byValue = JinjaValues.ToStr(a.Get(1, "by", "key")) == "value";
                bool rev = JinjaValues.IsTrue(a.Get(2, "reverse", false));
                var pairs = dd.Select(kv => (object?)new JTuple([kv.Key, kv.Value])).ToList();
                SortList(pairs, x => ((JTuple)x!)[byValue ? 1 : 0], rev, JinjaValues.IsTrue(a.Get(0, "case_sensitive", false)));
                return pairs;
            }
            case "sort":
            {
                var items = Materialize(value);
                var attr = a.Get(2, "attribute");
                SortList(items, x => attr is null ? x : AttrPath(x, attr), JinjaValues.IsTrue(a.Get(0, "reverse", false)), JinjaValues.IsTrue(a.Get(1, "case_sensitive", false)));
                return items;
            }
            case "unique":
            {
                var result = new List<object?>();
                foreach (var x in Materialize(value))
                {
                    bool seen = false;
                    foreach (var y in result)
                    {
                        Step();
                        if (JinjaValues.Eq(x is string sx ? sx.ToLowerInvariant() : x, y is string sy ? sy.ToLowerInvariant() : y)) { seen = true; break; }
                    }
                    if (!seen) result.Add(x);
                }
                return result;
            }
            case "sum":
            {
                object? total = a.Get(1, "start", 0L);
                var attr = a.Get(0, "attribute");
                foreach (var x in Materialize(value)) total = Binary("+", total, attr is null ? x : AttrPath(x, attr), pos);
                return total;
            }
            case "min" or "max":
            {
                var items = Materialize(value);
                if (items.Count == 0) return Undefined.Instance;
                var best = items[0];
                foreach (var x in items.Skip(1))
                {
                    int c = Order(x, best, "<", pos);
                    if (name == "min" ? c < 0 : c > 0) best = x;
                }
                return best;
            }
            case "wordcount": return (long)JinjaValues.ToStr(value).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
            case "center":
            {
                string s = JinjaValues.ToStr(value);
                int width = (int)Math.Clamp(a.Get(0, "width", 80L) is long cw ? cw : 80, 0, 100_000);
                if (s.Length >= width) return s;
                int left = (width - s.Length) / 2 + ((width - s.Length) % 2 & width % 2);
                return new string(' ', left) + s + new string(' ', width - s.Length - left);
            }
            case "format":
                return PercentFormat(JinjaValues.ToStr(value), a.Args, pos);
            case "batch":
            {
                long size = a.Get(0, "linecount") is long bs && bs > 0 ? bs : throw Fail("batch needs a positive size", pos);
                var result = new List<object?>();
                List<object?>? cur = null;
                foreach (var x in Materialize(value))
                {
                    if (cur is null || cur.Count == size) result.Add(cur = []);
                    cur.Add(x);
                }
                return result;
            }
            default:
                throw Fail($"unknown filter '{name}'", pos);
        }
    }

    private object? AttrPath(object? x, object? attr)
    {
        if (attr is long or bool) return GetItem(x, attr);
        foreach (var part in JinjaValues.ToStr(attr).Split('.'))
            x = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long idx) && x is IReadOnlyList<object?> ? GetItem(x, idx) : GetItem(x, part);
        return x;
    }

    private void SortList(List<object?> items, Func<object?, object?> key, bool reverse, bool caseSensitive)
    {
        object? K(object? x)
        {
            var k = key(x);
            return !caseSensitive && k is string s ? s.ToLowerInvariant() : k;
        }
        var keyed = items.Select(x => (Key: K(x), Item: x)).ToList();
        // Stable merge sort through LINQ's OrderBy (stable), with Python ordering.
        var comparer = Comparer<object?>.Create((p, q) => Order(p, q, "<", _pos));
        var sorted = reverse ? keyed.OrderByDescending(t => t.Key, comparer).ToList() : keyed.OrderBy(t => t.Key, comparer).ToList();
        items.Clear();
        items.AddRange(sorted.Select(t => t.Item));
    }

    private object? ToInt(object? v, object? dflt, object? baseArg)
    {
        switch (v)
        {
            case long: return v;
            case bool b: return b ? 1L : 0L;
            case double d: return double.IsFinite(d) && Math.Abs(d) < 9.2e18 ? (long)Math.Truncate(d) : dflt;
            case string s:
            {
                s = s.Trim().Replace("_", "", StringComparison.Ordinal);
                int nb = baseArg is long bl ? (int)bl : 10;
                try
                {
                    if (nb == 10)
                    {
                        if (long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l)) return l;
                        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double d2) && double.IsFinite(d2)) return (long)Math.Truncate(d2);
                        return dflt;
                    }
                    if (nb is 2 or 8 or 16)
                    {
                        string body = s.ToLowerInvariant();
                        if (body.StartsWith("0x") || body.StartsWith("0o") || body.StartsWith("0b")) body = body[2..];
                        return Convert.ToInt64(body, nb);
                    }
                }
                catch (FormatException) { }
                catch (OverflowException) { }
                return dflt;
            }
            default: return dflt;
        }
    }

    private static object? ToFloat(object? v, object? dflt) => v switch
    {
        double => v,
        long l => (double)l,
        bool b => b ? 1.0 : 0.0,
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => d,
        _ => dflt,
    };

    private string PercentFormat(string fmt, List<object?> args, int pos)
    {
        var sb = new StringBuilder();
        int ai = 0;
        IReadOnlyList<object?> values = args.Count == 1 && args[0] is JTuple t ? t : args;
        for (int i = 0; i < fmt.Length; i++)
        {
            if (fmt[i] != '%' || i + 1 >= fmt.Length) { sb.Append(fmt[i]); continue; }
            char f = fmt[++i];
            if (f == '%') { sb.Append('%'); continue; }
            if (ai >= values.Count) throw Fail("not enough arguments for format string", pos);
            var v = values[ai++];
            sb.Append(f switch
            {
                's' => JinjaValues.ToStr(v),
                'r' => JinjaValues.Repr(v),
                'd' or 'i' => JinjaValues.ToStr(ToInt(v, 0L, 10L)),
                'f' => JinjaValues.ToDouble(ToFloat(v, 0.0)).ToString("F6", CultureInfo.InvariantCulture),
                _ => throw Fail($"unsupported format character '{f}'", pos),
            });
        }
        return sb.ToString();
    }

    private static string HtmlEscape(string s) =>
        s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal)
         .Replace("\"", "&#34;", StringComparison.Ordinal).Replace("'", "&#39;", StringComparison.Ordinal);

    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    private static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool prevCased = false;
        foreach (char c in s)
        {
            if (char.IsLetter(c))
            {
                sb.Append(prevCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
                prevCased = true;
            }
            else
            {
                sb.Append(c);
                prevCased = false;
            }
        }
        return sb.ToString();
    }

    private string Replace(string s, string old, string @new, long count)
    {
        if (count < 0 && old.Length > 0)
        {
            long n = 0;
            for (int i = s.IndexOf(old, StringComparison.Ordinal); i >= 0; i = s.IndexOf(old, i + old.Length, StringComparison.Ordinal)) n++;
            CheckSize(s.Length + n * (@new.Length - old.Length));
            return s.Replace(old, @new, StringComparison.Ordinal);
        }
        var sb = new StringBuilder();
        if (old.Length == 0)
        {
            // Python inserts the replacement between every character (and at both ends).
            long done = 0;
            for (int i = 0; i <= s.Length; i++)
            {
                if (count < 0 || done < count) { sb.Append(@new); done++; }
                if (i < s.Length) sb.Append(s[i]);
                CheckSize(sb.Length);
            }
            return sb.ToString();
        }
        int pos = 0;
        long replaced = 0;
        while (replaced < count)
        {
            int i = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (i < 0) break;
            sb.Append(s, pos, i - pos).Append(@new);
            pos = i + old.Length;
            replaced++;
        }
        sb.Append(s, pos, s.Length - pos);
        CheckSize(sb.Length);
        return sb.ToString();
    }

    internal static bool IsPyWhitespace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';

    internal static string PyStrip(string s, bool left, bool right, string? chars = null)
    {
        Func<char, bool> strip = chars is null ? IsPyWhitespace : c => chars.Contains(c);
        int a = 0, b = s.Length;
        if (left) while (a < b && strip(s[a])) a++;
        if (right) while (b > a && strip(s[b - 1])) b--;
        return s[a..b];
    }

    /// <summary>Hugging Face's tojson: json.dumps(x, ensure_ascii=False, indent=indent) — ", " and ": " separators inline.</summary>
    private void ToJson(object? v, StringBuilder sb, string? indent, int level, bool sortKeys)
    {
        Step();
        if (level > 200) throw Fail("tojson: value nests too deeply", _pos);
        CheckSize(sb.Length);
        switch (v)
        {
            case null or Undefined: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : JinjaValues.FloatRepr(d));
                break;
            case string s: JsonString(s, sb); break;
            case IReadOnlyList<object?> list:
                if (list.Count == 0) { sb.Append("[]"); break; }
                sb.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) sb.Append(indent is null ? ", " : ",");
                    NewLine(sb, indent, level + 1);
                    ToJson(list[i], sb, indent, level + 1, sortKeys);
                }
                NewLine(sb, indent, level);
                sb.Append(']');
                break;
            case OrderedDictionary<object, object?> dict:
            {
                if (dict.Count == 0) { sb.Append("{}"); break; }
                IEnumerable<KeyValuePair<object, object?>> entries = dict;
                if (sortKeys) entries = dict.OrderBy(kv => kv.Key, Comparer<object>.Create((p, q) => Order(p, q, "<", _pos)));
                sb.Append('{');
                bool first = true;
                foreach (var (k, val) in entries)
                {
                    if (!first) sb.Append(indent is null ? ", " : ",");
                    first = false;
                    NewLine(sb, indent, level + 1);
                    JsonString(k switch
                    {
                        string ks => ks,
                        bool kb => kb ? "true" : "false",
                        null => "null",
                        _ => JinjaValues.ToStr(k),
                    }, sb);
                    sb.Append(": ");
                    ToJson(val, sb, indent, level + 1, sortKeys);
                }
                NewLine(sb, indent, level);
                sb.Append('}');
                break;
            }
            case JNamespace ns:
            {
                var d = JinjaValues.NewDict();
                foreach (var (k, val) in ns.Attrs) d[k] = val;
                ToJson(d, sb, indent, level, sortKeys);
                break;
            }
            default: throw Fail($"Object of type {JinjaValues.TypeName(v)} is not JSON serializable", _pos);
        }
    }

    private static void NewLine(StringBuilder sb, string? indent, int level)
    {
        if (indent is null) return;
        sb.Append('\n');
        for (int i = 0; i < level; i++) sb.Append(indent);
    }

    private static void JsonString(string s, StringBuilder sb)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    // ---------------- tests ----------------

    public bool ApplyTest(string name, object? v, List<object?> args, int pos)
    {
        Step();
        object? Arg() => args.Count > 0 ? args[0] : throw Fail($"test '{name}' needs an argument", pos);
        switch (name)
        {
            case "defined": return v is not Undefined;
            case "undefined": return v is Undefined;
            case "none": return v is null;
            case "boolean": return v is bool;
            case "true": return v is true;
            case "false": return v is false;
            case "integer": return v is long;
            case "float": return v is double;
            case "number": return v is long or double or bool;
            case "string": return v is string;
            case "mapping": return v is OrderedDictionary<object, object?> or JNamespace;
            case "iterable": return v is string or IReadOnlyList<object?> or OrderedDictionary<object, object?> or Undefined;
            case "sequence": return v is string or IReadOnlyList<object?> or OrderedDictionary<object, object?>;
            case "callable": return v is JCallable;
            case "sameas":
            {
                var o = Arg();
                return v is null || o is null ? v is null && o is null
                    : v is bool || o is bool ? Equals(v, o)
                    : v is long || v is double || v is string ? JinjaValues.Eq(v, o) && v.GetType() == o.GetType()
                    : ReferenceEquals(v, o);
            }
            case "eq" or "equalto" or "==": return JinjaValues.Eq(v, Arg());
            case "ne" or "!=": return !JinjaValues.Eq(v, Arg());
            case "lt" or "lessthan" or "<": return Order(v, Arg(), "<", pos) < 0;
            case "le" or "<=": return Order(v, Arg(), "<=", pos) <= 0;
            case "gt" or "greaterthan" or ">": return Order(v, Arg(), ">", pos) > 0;
            case "ge" or ">=": return Order(v, Arg(), ">=", pos) >= 0;
            case "in": return Contains(Arg(), v, pos);
            case "even": return v is long l1 ? l1 % 2 == 0 : throw Fail("test 'even' needs an integer", pos);
            case "odd": return v is long l2 ? l2 % 2 != 0 : throw Fail("test 'odd' needs an integer", pos);
            case "divisibleby":
            {
                var d = Arg();
                if (v is not long x || d is not long y) throw Fail("test 'divisibleby' needs integers", pos);
                return y != 0 && x % y == 0;
            }
            case "lower": return v is string ls && ls == ls.ToLowerInvariant();
            case "upper": return v is string us && us == us.ToUpperInvariant();
            case "escaped": return false;
            default: throw Fail($"unknown test '{name}'", pos);
        }
    }

    // ---------------- methods ----------------

    private static JCallable Method(string name, Func<JinjaInterpreter, CallArgs, object?> f) => new(name, f);

    private JCallable? DictMethod(OrderedDictionary<object, object?> d, string name) => name switch
    {
        "items" => Method(name, (_, _) => d.Select(kv => (object?)new JTuple([kv.Key, kv.Value])).ToList()),
        "keys" => Method(name, (_, _) => d.Keys.Cast<object?>().ToList()),
        "values" => Method(name, (_, _) => d.Values.ToList()),
        "get" => Method(name, (interp, a) =>
        {
            var k = a.Get(0, "key");
            return k is not (null or Undefined or List<object?> or OrderedDictionary<object, object?>) && d.TryGetValue(k, out var v) ? v : a.Get(1, "default");
        }),
        _ => null,
    };

    private JCallable? ListMethod(IReadOnlyList<object?> l, string name) => name switch
    {
        "index" => Method(name, (interp, a) =>
        {
            var x = a.Get(0, "value");
            for (int i = 0; i < l.Count; i++)
                if (JinjaValues.Eq(l[i], x)) return (long)i;
            throw interp.Fail($"{JinjaValues.Repr(x)} is not in list", true);
        }),
        "count" => Method(name, (_, a) => (long)l.Count(x => JinjaValues.Eq(x, a.Get(0, "value")))),
        _ => null,
    };

    private JCallable? StringMethod(string s, string name)
    {
        string? Chars(CallArgs a) => a.Get(0, "chars") is string c ? c : null;
        switch (name)
        {
            case "strip": return Method(name, (_, a) => PyStrip(s, true, true, Chars(a)));
            case "lstrip": return Method(name, (_, a) => PyStrip(s, true, false, Chars(a)));
            case "rstrip": return Method(name, (_, a) => PyStrip(s, false, true, Chars(a)));
            case "upper": return Method(name, (_, _) => s.ToUpperInvariant());
            case "lower": return Method(name, (_, _) => s.ToLowerInvariant());
            case "title": return Method(name, (_, _) => Title(s));
            case "capitalize": return Method(name, (_, _) => Capitalize(s));
            case "startswith" or "endswith":
                return Method(name, (interp, a) =>
                {
                    var p = a.Get(0, "prefix");
                    IEnumerable<object?> options = p is JTuple t ? t : [p];
                    foreach (var o in options)
                    {
                        if (o is not string ps) throw interp.Fail($"{name} first arg must be str or a tuple of str, not '{JinjaValues.TypeName(o)}'", true);
                        if (name == "startswith" ? s.StartsWith(ps, StringComparison.Ordinal) : s.EndsWith(ps, StringComparison.Ordinal)) return true;
                    }
                    return false;
                });
            case "split" or "rsplit":
                return Method(name, (interp, a) =>
                {
                    var sep = a.Get(0, "sep");
                    long max = a.Get(1, "maxsplit", -1L) is long m ? m : -1;
                    return Split(interp, s, sep is string ss ? ss : null, max, name == "rsplit");
                });
            case "splitlines":
                return Method(name, (_, _) => s.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n', '\r')
                    .Select(x => (object?)x).ToList() is var parts && s.EndsWith('\n') ? parts.Take(parts.Count - 1).ToList() : parts);
            case "replace":
                return Method(name, (interp, a) => interp.Replace(s, JinjaValues.ToStr(a.Get(0, "old")), JinjaValues.ToStr(a.Get(1, "new")), a.Get(2, "count", -1L) is long c ? c : -1));
            case "find" or "rfind" or "index" or "rindex":
                return Method(name, (interp, a) =>
                {
                    string sub = JinjaValues.ToStr(a.Get(0, "sub"));
                    int i = name[0] == 'r' ? s.LastIndexOf(sub, StringComparison.Ordinal) : s.IndexOf(sub, StringComparison.Ordinal);
                    if (i < 0 && name.EndsWith("index", StringComparison.Ordinal)) throw interp.Fail("substring not found", true);
                    return (long)i;
                });
            case "count":
                return Method(name, (_, a) =>
                {
                    string sub = JinjaValues.ToStr(a.Get(0, "sub"));
                    if (sub.Length == 0) return (long)s.Length + 1;
                    long n = 0;
                    for (int i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal)) n++;
                    return n;
                });
            case "join":
                return Method(name, (interp, a) =>
                {
                    var sb = new StringBuilder();
                    bool first = true;
                    foreach (var x in interp.Materialize(a.Get(0, "iterable")))
                    {
                        if (!first) sb.Append(s);
                        first = false;
                        sb.Append(JinjaValues.ToStr(x));
                        interp.CheckSize(sb.Length);
                    }
                    return sb.ToString();
                });
            case "isdigit": return Method(name, (_, _) => s.Length > 0 && s.All(char.IsDigit));
            case "isalpha": return Method(name, (_, _) => s.Length > 0 && s.All(char.IsLetter));
            case "isalnum": return Method(name, (_, _) => s.Length > 0 && s.All(char.IsLetterOrDigit));
            case "isspace": return Method(name, (_, _) => s.Length > 0 && s.All(IsPyWhitespace));
            case "islower": return Method(name, (_, _) => s.Any(char.IsLetter) && s == s.ToLowerInvariant());
            case "isupper": return Method(name, (_, _) => s.Any(char.IsLetter) && s == s.ToUpperInvariant());
            case "removeprefix": return Method(name, (_, a) => a.Get(0, "prefix") is string p && s.StartsWith(p, StringComparison.Ordinal) ? s[p.Length..] : s);
            case "removesuffix": return Method(name, (_, a) => a.Get(0, "suffix") is string p && p.Length > 0 && s.EndsWith(p, StringComparison.Ordinal) ? s[..^p.Length] : s);
            case "format": return Method(name, (interp, a) => interp.BraceFormat(s, a));
            default: return null;
        }
    }

    private static List<object?> Split(JinjaInterpreter interp, string s, string? sep, long max, bool fromRight)
    {
        var parts = new List<object?>();
        if (sep is null)
        {
            // Runs of whitespace separate; leading/trailing whitespace yields no empty strings.
            var words = new List<(int Start, int End)>();
            int i = 0;
            while (i < s.Length)
            {
                while (i < s.Length && IsPyWhitespace(s[i])) i++;
                if (i >= s.Length) break;
                int st = i;
                while (i < s.Length && !IsPyWhitespace(s[i])) i++;
                words.Add((st, i));
            }
            if (max < 0 || words.Count <= max + 1) return words.Select(w => (object?)s[w.Start..w.End]).ToList();
            if (!fromRight)
            {
                for (int k = 0; k < max; k++) parts.Add(s[words[k].Start..words[k].End]);
                parts.Add(PyStrip(s[words[(int)max].Start..], false, true));
            }
            else
            {
                int firstKept = words.Count - (int)max;
                parts.Add(PyStrip(s[..words[firstKept - 1].End], true, false));
                for (int k = firstKept; k < words.Count; k++) parts.Add(s[words[k].Start..words[k].End]);
            }
            return parts;
        }
        if (sep.Length == 0) throw interp.Fail("empty separator", true);
        var all = s.Split(sep);
        if (max < 0 || all.Length <= max + 1) return all.Select(x => (object?)x).ToList();
        if (!fromRight)
        {
            for (int k = 0; k < max; k++) parts.Add(all[k]);
            parts.Add(string.Join(sep, all.Skip((int)max)));
        }
        else
        {
            parts.Add(string.Join(sep, all.Take(all.Length - (int)max)));
            for (int k = all.Length - (int)max; k < all.Length; k++) parts.Add(all[k]);
        }
        return parts;
    }

    /// <summary>str.format with {} / {0} / {name} fields (no format specs beyond plain conversion).</summary>
    private string BraceFormat(string fmt, CallArgs a)
    {
        var sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < fmt.Length; i++)
        {
            char c = fmt[i];
            if (c == '{' && i + 1 < fmt.Length && fmt[i + 1] == '{') { sb.Append('{'); i++; continue; }
            if (c == '}' && i + 1 < fmt.Length && fmt[i + 1] == '}') { sb.Append('}'); i++; continue; }
            if (c != '{') { sb.Append(c); continue; }
            int end = fmt.IndexOf('}', i);
            if (end < 0) throw Fail("single '{' encountered in format string", _pos);
            string field = fmt[(i + 1)..end];
            int colon = field.IndexOf(':');
            if (colon >= 0) field = field[..colon];
            object? v;
            if (field.Length == 0) v = a.Args.Count > auto ? a.Args[auto++] : throw Fail("format: not enough arguments", _pos);
            else if (int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out int idx))
                v = idx < a.Args.Count ? a.Args[idx] : throw Fail("format: argument index out of range", _pos);
            else v = a.Kwargs.Find(k => k.Name == field) is var kv && kv.Name is not null ? kv.Value : throw Fail($"format: missing argument '{field}'", _pos);
            sb.Append(JinjaValues.ToStr(v));
            i = end;
        }
        return sb.ToString();
    }
}
