using System.Runtime.CompilerServices;
using System.Text;

namespace Strata.Chat;

internal sealed class Scope(Scope? parent)
{
    public readonly Scope? Parent = parent;
    public readonly Dictionary<string, object?> Vars = new(StringComparer.Ordinal);

    public bool TryGet(string name, out object? value)
    {
        for (var s = this; s is not null; s = s.Parent)
            if (s.Vars.TryGetValue(name, out value)) return true;
        value = null;
        return false;
    }
}

/// <summary>
/// Tree-walking evaluator. Every statement, expression and iteration costs one step against
/// <see cref="ChatTemplateOptions.MaxSteps"/>; output and every string built are bounded by
/// <see cref="ChatTemplateOptions.MaxOutputChars"/>; evaluation and macro nesting by <see cref="ChatTemplateOptions.MaxDepth"/>
/// (and the remaining machine stack), so a hostile template ends in a <see cref="ChatTemplateException"/>.
/// </summary>
internal sealed partial class JinjaInterpreter
{
    private enum Flow { Normal, Break, Continue }

    private readonly ChatTemplateOptions _opt;
    private readonly Func<int, (int Line, int Column)> _locate;
    private StringBuilder _out = new();
    private long _steps, _written;
    private int _depth;

    public JinjaInterpreter(ChatTemplateOptions options, Func<int, (int, int)> locate)
    {
        _opt = options;
        _locate = locate;
    }

    public ChatTemplateOptions Options => _opt;

    public string Run(List<Node> body, Scope globals)
    {
        var scope = new Scope(globals);
        ExecBody(body, scope);
        return _out.ToString();
    }

    // ---------------- errors and budgets ----------------

    public ChatTemplateException Fail(string message, int pos = -1)
    {
        if (pos < 0) return new ChatTemplateException(message);
        var (line, col) = _locate(pos);
        return new ChatTemplateException(message, line, col);
    }

    private int _pos; // position of the node being evaluated, for errors raised inside builtins

    public ChatTemplateException Fail(string message, bool here) => here ? Fail(message, _pos) : Fail(message);

    public void Step()
    {
        if (++_steps > _opt.MaxSteps)
            throw Fail($"chat template exceeded its evaluation budget of {_opt.MaxSteps} steps", _pos);
    }

    public void CheckSize(long chars)
    {
        if (chars > _opt.MaxOutputChars)
            throw Fail($"chat template built a string of {chars} characters, over the limit of {_opt.MaxOutputChars}", _pos);
    }

    public void CheckItems(long count)
    {
        if (count > _opt.MaxItems)
            throw Fail($"chat template built a sequence of {count} items, over the limit of {_opt.MaxItems}", _pos);
    }

    private void Enter(int pos)
    {
        if (++_depth > _opt.MaxDepth || !RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw Fail($"chat template nesting is too deep (limit {_opt.MaxDepth})", pos);
    }

    private void Write(string s)
    {
        _written += s.Length;
        if (_written > _opt.MaxOutputChars)
            throw Fail($"chat template output exceeded the limit of {_opt.MaxOutputChars} characters", _pos);
        _out.Append(s);
    }

    /// <summary>Renders into a fresh buffer (macros, set blocks, filter blocks).</summary>
    private string Capture(Action body)
    {
        var saved = _out;
        _out = new StringBuilder();
        try
        {
            body();
            return _out.ToString();
        }
        finally
        {
            _out = saved;
        }
    }

    // ---------------- statements ----------------

    private Flow ExecBody(List<Node> body, Scope scope)
    {
        foreach (var node in body)
        {
            var flow = Exec(node, scope);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow Exec(Node node, Scope scope)
    {
        Step();
        _pos = node.Pos;
        Enter(node.Pos);
        try
        {
            switch (node)
            {
                case TextStmt t:
                    Write(t.Text);
                    return Flow.Normal;
                case OutputStmt o:
                    Write(JinjaValues.ToStr(Eval(o.Value, scope)));
                    return Flow.Normal;
                case IfStmt i:
                    foreach (var (test, body) in i.Branches)
                        if (JinjaValues.IsTrue(Eval(test, scope))) return ExecBody(body, scope);
                    return i.Else is null ? Flow.Normal : ExecBody(i.Else, scope);
                case ForStmt f:
                    ExecFor(f, scope);
                    return Flow.Normal;
                case SetStmt s:
                    Assign(s.Target, Eval(s.Value, scope), scope);
                    return Flow.Normal;
                case SetBlockStmt sb:
                {
                    object? value = Capture(() => ExecBody(sb.Body, scope));
                    foreach (var (name, args, kwargs) in sb.Filters) value = ApplyFilter(name, value, args, kwargs, scope, sb.Pos);
                    Assign(sb.Target, value, scope);
                    return Flow.Normal;
                }
                case FilterBlockStmt fb:
                {
                    object? value = Capture(() => ExecBody(fb.Body, scope));
                    foreach (var (name, args, kwargs) in fb.Filters) value = ApplyFilter(name, value, args, kwargs, scope, fb.Pos);
                    Write(JinjaValues.ToStr(value));
                    return Flow.Normal;
                }
                case MacroStmt m:
                    scope.Vars[m.Name] = MakeMacro(m.Name, m.Params, m.Body, scope);
                    return Flow.Normal;
                case CallBlockStmt cb:
                {
                    var caller = MakeMacro("caller", cb.Params, cb.Body, scope);
                    var kwargs = new List<(string, Expr)>(cb.Call.Kwargs) { ("caller", new ConstExpr(cb.Pos, caller)) };
                    Write(JinjaValues.ToStr(Eval(cb.Call with { Kwargs = kwargs }, scope)));
                    return Flow.Normal;
                }
                case BreakStmt: return Flow.Break;
                case ContinueStmt: return Flow.Continue;
                case BodyStmt b: return ExecBody(b.Body, scope);
                default: throw Fail($"unsupported statement {node.GetType().Name}", node.Pos);
            }
        }
        finally
        {
            _depth--;
        }
    }

    private void Assign(Expr target, object? value, Scope scope)
    {
        switch (target)
        {
            case NameExpr n:
                scope.Vars[n.Name] = value;
                break;
            case TupleExpr t:
            {
                var items = Unpack(value, t.Items.Count, t.Pos);
                for (int i = 0; i < items.Count; i++) Assign(t.Items[i], items[i], scope);
                break;
            }
            case GetAttrExpr { Obj: NameExpr ns } a:
                if (!scope.TryGet(ns.Name, out var obj) || obj is not JNamespace jn)
                    throw Fail($"cannot assign attribute '{a.Name}' on '{ns.Name}': only namespace() objects support attribute assignment", a.Pos);
                jn.Attrs[a.Name] = value;
                break;
            default:
                throw Fail("invalid assignment target", target.Pos);
        }
    }

    private IReadOnlyList<object?> Unpack(object? value, int count, int pos)
    {
        var items = value as IReadOnlyList<object?> ?? (value is string or OrderedDictionary<object, object?> ? Materialize(value) : null);
        if (items is null) throw Fail($"cannot unpack a value of type '{JinjaValues.TypeName(value)}'", pos);
        if (items.Count != count) throw Fail($"cannot unpack {items.Count} values into {count} names", pos);
        return items;
    }

    private void ExecFor(ForStmt f, Scope scope)
    {
        var iterable = Eval(f.Iter, scope);
        IReadOnlyList<object?> items;
        if (iterable is null) throw Fail("'NoneType' object is not iterable", f.Iter.Pos);
        if (f.Filter is null)
            items = iterable as IReadOnlyList<object?> ?? Materialize(iterable);
        else
        {
            var all = iterable as IReadOnlyList<object?> ?? Materialize(iterable);
            var kept = new List<object?>();
            var test = new Scope(scope);
            foreach (var item in all)
            {
                Step();
                Assign(f.Target, item, test);
                if (JinjaValues.IsTrue(Eval(f.Filter, test))) kept.Add(item);
            }
            items = kept;
        }
        if (items.Count == 0)
        {
            if (f.Else is not null) ExecBody(f.Else, new Scope(scope));
            return;
        }
        var loop = new LoopInfo { Length = items.Count };
        for (int i = 0; i < items.Count; i++)
        {
            Step();
            var item = items[i];
            loop.Index0 = i;
            loop.Prev = i > 0 ? items[i - 1] : Undefined.Instance;
            loop.Next = i + 1 < items.Count ? items[i + 1] : Undefined.Instance;
            var body = new Scope(scope);
            body.Vars["loop"] = loop;
            Assign(f.Target, item, body);
            if (ExecBody(f.Body, body) == Flow.Break) break;
        }
    }

    /// <summary>The items of any iterable value (dict → keys, string → characters), bounded by MaxItems.</summary>
    public List<object?> Materialize(object? v)
    {
        switch (v)
        {
            case Undefined: return [];
            case IReadOnlyList<object?> l:
                CheckItems(l.Count);
                var copy = new List<object?>(l.Count);
                foreach (var x in l) { Step(); copy.Add(x); }
                return copy;
            case OrderedDictionary<object, object?> d: return [.. d.Keys];
            case string s:
            {
                var chars = new List<object?>(s.Length);
                foreach (var r in s.EnumerateRunes()) { Step(); chars.Add(r.ToString()); }
                return chars;
            }
            default: throw Fail($"'{JinjaValues.TypeName(v)}' object is not iterable", _pos);
        }
    }

    private JCallable MakeMacro(string name, List<(string Name, Expr? Default)> ps, List<Node> body, Scope defScope)
    {
        return new JCallable(name, (interp, args) =>
        {
            var scope = new Scope(defScope);
            for (int i = 0; i < ps.Count; i++)
            {
                var (pname, def) = ps[i];
                object? value;
                if (args.Has(i, pname)) value = args.Get(i, pname);
                else value = def is null ? Undefined.Instance : interp.Eval(def, scope);
                scope.Vars[pname] = value;
            }
            var varargs = args.Args.Skip(ps.Count).ToList();
            scope.Vars["varargs"] = varargs;
            var kw = JinjaValues.NewDict();
            foreach (var (k, v) in args.Kwargs)
            {
                if (k == "caller") scope.Vars["caller"] = v;
                else if (!ps.Exists(p => p.Name == k)) kw[k] = v;
            }
            scope.Vars["kwargs"] = kw;
            return interp.Capture(() => interp.ExecBody(body, scope));
        });
    }

    // ---------------- expressions ----------------

    public object? Eval(Expr e, Scope scope)
    {
        Step();
        Enter(e.Pos);
        int savedPos = _pos;
        _pos = e.Pos;
        try
        {
            return EvalCore(e, scope);
        }
        finally
        {
            _depth--;
            _pos = savedPos;
        }
    }

    private object? EvalCore(Expr e, Scope scope)
    {
        switch (e)
        {
            case ConstExpr c: return c.Value;
            case NameExpr n: return scope.TryGet(n.Name, out var v) ? v : Undefined.Instance;
            case GetAttrExpr a: return GetAttr(Eval(a.Obj, scope), a.Name);
            case GetItemExpr g: return GetItem(Eval(g.Obj, scope), Eval(g.Key, scope));
            case SliceExpr s:
                return Slice(Eval(s.Obj, scope), s.Start is null ? null : Eval(s.Start, scope),
                    s.Stop is null ? null : Eval(s.Stop, scope), s.Step is null ? null : Eval(s.Step, scope));
            case CallExpr c: return EvalCall(c, scope);
            case FilterExpr f: return ApplyFilter(f.Name, Eval(f.Value, scope), f.Args, f.Kwargs, scope, f.Pos);
            case TestExpr t:
            {
                var value = Eval(t.Value, scope);
                var args = t.Args.Select(a => Eval(a, scope)).ToList();
                bool r = ApplyTest(t.Name, value, args, t.Pos);
                return t.Negated ? !r : r;
            }
            case UnaryExpr u:
            {
                var x = Eval(u.Operand, scope);
                return u.Op switch
                {
                    "not" => !JinjaValues.IsTrue(x),
                    "-" => x switch
                    {
                        long l => (object)checked(-l),
                        double d => -d,
                        bool b => b ? -1L : 0L,
                        _ => throw Fail($"bad operand type for unary -: '{JinjaValues.TypeName(x)}'", u.Pos),
                    },
                    _ => JinjaValues.IsNumber(x) ? (x is bool b2 ? (b2 ? 1L : 0L) : x) : throw Fail($"bad operand type for unary +: '{JinjaValues.TypeName(x)}'", u.Pos),
                };
            }
            case BinaryExpr b:
            {
                if (b.Op == "and")
                {
                    var l = Eval(b.Left, scope);
                    return JinjaValues.IsTrue(l) ? Eval(b.Right, scope) : l;
                }
                if (b.Op == "or")
                {
                    var l = Eval(b.Left, scope);
                    return JinjaValues.IsTrue(l) ? l : Eval(b.Right, scope);
                }
                return Binary(b.Op, Eval(b.Left, scope), Eval(b.Right, scope), b.Pos);
            }
            case CompareExpr c:
            {
                var left = Eval(c.First, scope);
                foreach (var (op, rightExpr) in c.Rest)
                {
                    var right = Eval(rightExpr, scope);
                    if (!Compare(op, left, right, c.Pos)) return false;
                    left = right;
                }
                return true;
            }
            case CondExpr c:
                return JinjaValues.IsTrue(Eval(c.Test, scope)) ? Eval(c.Then, scope) : c.Else is null ? Undefined.Instance : Eval(c.Else, scope);
            case ListExpr l:
            {
                var list = new List<object?>(l.Items.Count);
                foreach (var x in l.Items) list.Add(Eval(x, scope));
                return list;
            }
            case TupleExpr t:
            {
                var arr = new object?[t.Items.Count];
                for (int i = 0; i < arr.Length; i++) arr[i] = Eval(t.Items[i], scope);
                return new JTuple(arr);
            }
            case DictExpr d:
            {
                var dict = JinjaValues.NewDict();
                foreach (var (k, val) in d.Items) dict[Key(Eval(k, scope), k.Pos)] = Eval(val, scope);
                return dict;
            }
            default: throw Fail($"unsupported expression {e.GetType().Name}", e.Pos);
        }
    }

    private object Key(object? k, int pos) =>
        k is null or Undefined or List<object?> or OrderedDictionary<object, object?> ? throw Fail($"unhashable dict key of type '{JinjaValues.TypeName(k)}'", pos) : k;

    private object? EvalCall(CallExpr c, Scope scope)
    {
        var callee = Eval(c.Callee, scope);
        if (callee is not JCallable fn)
        {
            string what = c.Callee switch
            {
                NameExpr n => $"'{n.Name}'",
                GetAttrExpr a => $"'{a.Name}'",
                _ => "the value",
            };
            throw callee is Undefined
                ? Fail($"{what} is undefined and cannot be called", c.Pos)
                : Fail($"{what} ('{JinjaValues.TypeName(callee)}') is not callable", c.Pos);
        }
        var args = new List<object?>(c.Args.Count);
        foreach (var a in c.Args) args.Add(Eval(a, scope));
        var kwargs = new List<(string, object?)>(c.Kwargs.Count);
        foreach (var (k, v) in c.Kwargs) kwargs.Add((k, Eval(v, scope)));
        _pos = c.Pos;
        return fn.Invoke(this, new CallArgs(args, kwargs));
    }

    public object? Call(object? fn, params object?[] args)
    {
        if (fn is not JCallable f) throw Fail($"'{JinjaValues.TypeName(fn)}' is not callable", _pos);
        return f.Invoke(this, new CallArgs([.. args], []));
    }

    // ---------------- attribute and item access ----------------

    public object? GetAttr(object? obj, string name)
    {
        switch (obj)
        {
            case OrderedDictionary<object, object?> d:
            {
                var m = DictMethod(d, name);
                if (m is not null) return m;
                return d.TryGetValue(name, out var v) ? v : Undefined.Instance;
            }
            case JNamespace ns: return ns.Attrs.TryGetValue(name, out var nv) ? nv : Undefined.Instance;
            case LoopInfo l: return LoopAttr(l, name);
            case string s: return (object?)StringMethod(s, name) ?? Undefined.Instance;
            case List<object?> or JTuple or JRange: return (object?)ListMethod((IReadOnlyList<object?>)obj, name) ?? Undefined.Instance;
            default: return Undefined.Instance;
        }
    }

    private static object? LoopAttr(LoopInfo l, string name) => name switch
    {
        "index" => (long)(l.Index0 + 1),
        "index0" => (long)l.Index0,
        "revindex" => (long)(l.Length - l.Index0),
        "revindex0" => (long)(l.Length - l.Index0 - 1),
        "first" => l.Index0 == 0,
        "last" => l.Index0 == l.Length - 1,
        "length" => (long)l.Length,
        "previtem" => l.Prev,
        "nextitem" => l.Next,
        "depth" => (long)(l.Depth0 + 1),
        "depth0" => (long)l.Depth0,
        "cycle" => new JCallable("cycle", (interp, a) =>
            a.Args.Count == 0 ? throw interp.Fail("loop.cycle() needs at least one argument", true) : a.Args[l.Index0 % a.Args.Count]),
        _ => Undefined.Instance,
    };

    public object? GetItem(object? obj, object? key)
    {
        switch (obj)
        {
            case OrderedDictionary<object, object?> d:
                if (key is null or Undefined or List<object?> or OrderedDictionary<object, object?>) return Undefined.Instance;
                return d.TryGetValue(key, out var v) ? v : Undefined.Instance;
            case IReadOnlyList<object?> l when key is long or bool:
            {
                long i = JinjaValues.ToLong(key);
                if (i < 0) i += l.Count;
                return i >= 0 && i < l.Count ? l[(int)i] : Undefined.Instance;
            }
            case string s when key is long or bool:
            {
                long i = JinjaValues.ToLong(key);
                if (i < 0) i += s.Length;
                return i >= 0 && i < s.Length ? s[(int)i].ToString() : Undefined.Instance;
            }
            case Undefined: return Undefined.Instance;
        }
        return key is string name ? GetAttr(obj, name) : Undefined.Instance;
    }

    private object? Slice(object? obj, object? start, object? stop, object? step)
    {
        long? Int(object? v, string what) => v switch
        {
            null or Undefined => null,
            long or bool => JinjaValues.ToLong(v),
            _ => throw Fail($"slice {what} must be an integer or none, not '{JinjaValues.TypeName(v)}'", _pos),
        };
        long st = Int(step, "step") ?? 1;
        if (st == 0) throw Fail("slice step cannot be zero", _pos);
        int len = obj switch
        {
            string s => s.Length,
            IReadOnlyList<object?> l => l.Count,
            Undefined => 0,
            _ => throw Fail($"'{JinjaValues.TypeName(obj)}' object is not subscriptable", _pos),
        };
        long Clamp(long? v, long dflt, long lo, long hi)
        {
            if (v is null) return dflt;
            long x = v.Value < 0 ? v.Value + len : v.Value;
            return Math.Clamp(x, lo, hi);
        }
        long a = st > 0 ? Clamp(Int(start, "start"), 0, 0, len) : Clamp(Int(start, "start"), len - 1, -1, len - 1);
        long b = st > 0 ? Clamp(Int(stop, "stop"), len, 0, len) : Clamp(Int(stop, "stop"), -1, -1, len - 1);
        var idx = new List<int>();
        if (st > 0) for (long i = a; i < b; i += st) { Step(); idx.Add((int)i); }
        else for (long i = a; i > b; i += st) { Step(); idx.Add((int)i); }
        switch (obj)
        {
            case string s:
            {
                var sb = new StringBuilder(idx.Count);
                foreach (int i in idx) sb.Append(s[i]);
                return sb.ToString();
            }
            case JTuple t: return new JTuple(idx.Select(i => t[i]).ToArray());
            case IReadOnlyList<object?> l: return idx.Select(i => l[i]).ToList();
            default: return Undefined.Instance;
        }
    }

    // ---------------- operators ----------------

    private object? Binary(string op, object? a, object? b, int pos)
    {
        switch (op)
        {
            case "~":
            {
                string s = JinjaValues.ToStr(a), t = JinjaValues.ToStr(b);
                CheckSize((long)s.Length + t.Length);
                return s + t;
            }
            case "+":
                if (a is string || b is string)
                {
                    if (a is not (string or Undefined) || b is not (string or Undefined))
                        throw Fail($"can only concatenate str (not '{JinjaValues.TypeName(a is string ? b : a)}') to str", pos);
                    string s = JinjaValues.ToStr(a), t = JinjaValues.ToStr(b);
                    CheckSize((long)s.Length + t.Length);
                    return s + t;
                }
                if (a is List<object?> la && b is List<object?> lb)
                {
                    CheckItems((long)la.Count + lb.Count);
                    return new List<object?>([.. la, .. lb]);
                }
                if (a is JTuple ta && b is JTuple tb)
                {
                    CheckItems((long)ta.Count + tb.Count);
                    return new JTuple([.. ta.Items, .. tb.Items]);
                }
                break;
            case "*":
                if (a is string || b is string)
                {
                    var (s, n) = a is string sa ? (sa, b) : ((string)b!, a);
                    if (n is not (long or bool)) break;
                    long times = Math.Max(0, JinjaValues.ToLong(n));
                    CheckSize(s.Length * times);
                    return new StringBuilder(s.Length * (int)times).Insert(0, s, (int)times).ToString();
                }
                if (a is List<object?> || b is List<object?>)
                {
                    var (l, n) = a is List<object?> al ? (al, b) : ((List<object?>)b!, a);
                    if (n is not (long or bool)) break;
                    long times = Math.Max(0, JinjaValues.ToLong(n));
                    CheckItems(l.Count * times);
                    var r = new List<object?>();
                    for (long i = 0; i < times; i++) r.AddRange(l);
                    return r;
                }
                break;
        }
        if (!JinjaValues.IsNumber(a) || !JinjaValues.IsNumber(b))
            throw Fail($"unsupported operand types for {op}: '{JinjaValues.TypeName(a)}' and '{JinjaValues.TypeName(b)}'", pos);
        bool ints = a is not double && b is not double;
        try
        {
            if (ints)
            {
                long x = JinjaValues.ToLong(a), y = JinjaValues.ToLong(b);
                switch (op)
                {
                    case "+": return checked(x + y);
                    case "-": return checked(x - y);
                    case "*": return checked(x * y);
                    case "/":
                        if (y == 0) throw Fail("division by zero", pos);
                        return (double)x / y;
                    case "//":
                    {
                        if (y == 0) throw Fail("integer division by zero", pos);
                        long q = x / y;
                        if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
                        return q;
                    }
                    case "%":
                    {
                        if (y == 0) throw Fail("integer modulo by zero", pos);
                        long m = x % y;
                        if (m != 0 && ((m < 0) != (y < 0))) m += y;
                        return m;
                    }
                    case "**":
                    {
                        if (y < 0) return Math.Pow(x, y);
                        if (x is 0 or 1) return y == 0 ? 1L : x;
                        if (x == -1) return y % 2 == 0 ? 1L : -1L;
                        long r = 1;
                        for (long i = 0; i < y; i++) r = checked(r * x); // overflows within 63 rounds
                        return r;
                    }
                }
            }
            else
            {
                double x = JinjaValues.ToDouble(a), y = JinjaValues.ToDouble(b);
                switch (op)
                {
                    case "+": return x + y;
                    case "-": return x - y;
                    case "*": return x * y;
                    case "/": return y == 0 ? throw Fail("float division by zero", pos) : x / y;
                    case "//": return y == 0 ? throw Fail("float floor division by zero", pos) : Math.Floor(x / y);
                    case "%":
                    {
                        if (y == 0) throw Fail("float modulo by zero", pos);
                        double m = x % y;
                        if (m != 0 && ((m < 0) != (y < 0))) m += y;
                        return m;
                    }
                    case "**": return Math.Pow(x, y);
                }
            }
        }
        catch (OverflowException)
        {
            throw Fail($"integer overflow in '{op}'", pos);
        }
        throw Fail($"unknown operator '{op}'", pos);
    }

    private bool Compare(string op, object? a, object? b, int pos)
    {
        switch (op)
        {
            case "==": return JinjaValues.Eq(a, b);
            case "!=": return !JinjaValues.Eq(a, b);
            case "in": return Contains(b, a, pos);
            case "not in": return !Contains(b, a, pos);
        }
        int c = Order(a, b, op, pos);
        return op switch
        {
            "<" => c < 0,
            ">" => c > 0,
            "<=" => c <= 0,
            _ => c >= 0,
        };
    }

    public int Order(object? a, object? b, string op, int pos)
    {
        if (JinjaValues.IsNumber(a) && JinjaValues.IsNumber(b))
            return a is double || b is double ? JinjaValues.ToDouble(a).CompareTo(JinjaValues.ToDouble(b)) : JinjaValues.ToLong(a).CompareTo(JinjaValues.ToLong(b));
        if (a is string sa && b is string sb) return Math.Sign(string.CompareOrdinal(sa, sb));
        if (a is IReadOnlyList<object?> la && b is IReadOnlyList<object?> lb && a.GetType() == b.GetType())
        {
            for (int i = 0; i < Math.Min(la.Count, lb.Count); i++)
            {
                if (JinjaValues.Eq(la[i], lb[i])) continue;
                return Order(la[i], lb[i], op, pos);
            }
            return la.Count.CompareTo(lb.Count);
        }
        throw Fail($"'{op}' not supported between instances of '{JinjaValues.TypeName(a)}' and '{JinjaValues.TypeName(b)}'", pos);
    }

    public bool Contains(object? container, object? item, int pos)
    {
        switch (container)
        {
            case string s:
                if (item is not string sub) throw Fail($"'in <string>' requires string as left operand, not '{JinjaValues.TypeName(item)}'", pos);
                return s.Contains(sub, StringComparison.Ordinal);
            case OrderedDictionary<object, object?> d:
                return item is not (null or Undefined or List<object?> or OrderedDictionary<object, object?>) && d.ContainsKey(item);
            case IReadOnlyList<object?> l:
                foreach (var x in l)
                {
                    Step();
                    if (JinjaValues.Eq(x, item)) return true;
                }
                return false;
            case Undefined: return false;
            default: throw Fail($"argument of type '{JinjaValues.TypeName(container)}' is not iterable", pos);
        }
    }
}
