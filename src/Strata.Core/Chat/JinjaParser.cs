using System.Runtime.CompilerServices;

namespace Strata.Chat;

/// <summary>
/// Recursive-descent parser for the Jinja subset, following Jinja2's grammar and operator precedence
/// (condexpr &lt; or &lt; and &lt; not &lt; compare &lt; + - &lt; ~ &lt; * / // % &lt; ** &lt; unary &lt; postfix/filters/tests).
/// Nesting is bounded so that a hostile template fails with a <see cref="ChatTemplateException"/>, not a stack overflow.
/// </summary>
internal sealed class JinjaParser
{
    private readonly List<Token> _t;
    private readonly Func<int, (int Line, int Column)> _locate;
    private readonly int _maxDepth;
    private int _i, _depth;

    private JinjaParser(List<Token> tokens, Func<int, (int, int)> locate, int maxDepth)
    {
        _t = tokens;
        _locate = locate;
        _maxDepth = maxDepth;
    }

    public static List<Node> Parse(string source, int maxDepth, out Func<int, (int Line, int Column)> locate)
    {
        var tokens = JinjaLexer.Tokenize(source, out locate);
        var p = new JinjaParser(tokens, locate, maxDepth);
        var body = p.ParseBody(null, out _);
        return body;
    }

    private Token Cur => _t[_i];
    private Token Peek(int k = 1) => _t[Math.Min(_i + k, _t.Count - 1)];
    private Token Next() => _t[_i++];

    private ChatTemplateException Error(string message, int pos)
    {
        var (line, col) = _locate(pos);
        return new ChatTemplateException(message, line, col);
    }

    private ChatTemplateException Unexpected(string expected)
    {
        var t = Cur;
        string what = t.Kind switch
        {
            TokenKind.Eof => "end of template",
            TokenKind.BlockEnd => "end of statement '%}'",
            TokenKind.VarEnd => "end of expression '}}'",
            TokenKind.String => "string literal",
            _ => $"'{t.Value}'",
        };
        return Error($"expected {expected}, got {what}", t.Pos);
    }

    private void Enter(int pos)
    {
        if (++_depth > _maxDepth || !RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw Error($"template nesting is too deep (limit {_maxDepth})", pos);
    }

    private void Leave() => _depth--;

    private Token ExpectOp(string op)
    {
        if (!Cur.IsOp(op)) throw Unexpected($"'{op}'");
        return Next();
    }

    private string ExpectName()
    {
        if (Cur.Kind != TokenKind.Name) throw Unexpected("a name");
        return Next().Value;
    }

    private void ExpectBlockEnd()
    {
        if (Cur.Kind != TokenKind.BlockEnd) throw Unexpected("'%}'");
        _i++;
    }

    private bool SkipOp(string op)
    {
        if (!Cur.IsOp(op)) return false;
        _i++;
        return true;
    }

    private bool SkipName(string name)
    {
        if (!Cur.IsName(name)) return false;
        _i++;
        return true;
    }

    // ---------------- statements ----------------

    /// <summary>Parses nodes until a block tag whose keyword is in <paramref name="ends"/> (left unconsumed, after its '{%').</summary>
    private List<Node> ParseBody(string[]? ends, out string? endedBy)
    {
        var body = new List<Node>();
        while (true)
        {
            var t = Cur;
            switch (t.Kind)
            {
                case TokenKind.Eof:
                    if (ends is not null) throw Error($"unexpected end of template, expected '{{% {ends[^1]} %}}'", t.Pos);
                    endedBy = null;
                    return body;
                case TokenKind.Text:
                    _i++;
                    body.Add(new TextStmt(t.Pos, t.Value));
                    break;
                case TokenKind.VarBegin:
                    _i++;
                    var e = ParseTuple(allowCond: true);
                    if (Cur.Kind != TokenKind.VarEnd) throw Unexpected("'}}'");
                    _i++;
                    body.Add(new OutputStmt(t.Pos, e));
                    break;
                case TokenKind.BlockBegin:
                    var kw = Peek();
                    if (kw.Kind != TokenKind.Name) { _i++; throw Unexpected("a statement keyword"); }
                    if (ends is not null && Array.IndexOf(ends, kw.Value) >= 0)
                    {
                        _i += 2;
                        endedBy = kw.Value;
                        return body;
                    }
                    if (kw.Value.StartsWith("end", StringComparison.Ordinal) || kw.Value is "elif" or "else")
                        throw Error($"unexpected '{{% {kw.Value} %}}'" + (ends is null ? "" : $", expected '{{% {ends[^1]} %}}'"), kw.Pos);
                    _i += 2;
                    Enter(t.Pos);
                    body.Add(ParseStatement(kw));
                    Leave();
                    break;
                default:
                    throw Unexpected("text or a tag");
            }
        }
    }

    private Node ParseStatement(Token kw)
    {
        switch (kw.Value)
        {
            case "if": return ParseIf(kw.Pos);
            case "for": return ParseFor(kw.Pos);
            case "set": return ParseSet(kw.Pos);
            case "macro": return ParseMacro(kw.Pos);
            case "call": return ParseCallBlock(kw.Pos);
            case "filter":
            {
                var filters = ParseFilterChain();
                ExpectBlockEnd();
                var body = ParseBody(["endfilter"], out _);
                ExpectBlockEnd();
                return new FilterBlockStmt(kw.Pos, filters, body);
            }
            case "break": ExpectBlockEnd(); return new BreakStmt(kw.Pos);
            case "continue": ExpectBlockEnd(); return new ContinueStmt(kw.Pos);
            case "generation":
            {
                // Hugging Face's AssistantTracker extension: {% generation %} marks assistant text; it renders its body.
                ExpectBlockEnd();
                var body = ParseBody(["endgeneration"], out _);
                ExpectBlockEnd();
                return new BodyStmt(kw.Pos, body);
            }
            case "include" or "import" or "from" or "extends" or "block":
                throw Error($"'{kw.Value}' is not supported in chat templates", kw.Pos);
            default:
                throw Error($"unknown statement '{kw.Value}'", kw.Pos);
        }
    }

    private IfStmt ParseIf(int pos)
    {
        var branches = new List<(Expr, List<Node>)>();
        List<Node>? elseBody = null;
        var test = ParseTuple(allowCond: true);
        while (true)
        {
            ExpectBlockEnd();
            var body = ParseBody(["elif", "else", "endif"], out var end);
            branches.Add((test, body));
            if (end == "elif")
            {
                test = ParseTuple(allowCond: true);
                continue;
            }
            if (end == "else")
            {
                ExpectBlockEnd();
                elseBody = ParseBody(["endif"], out _);
            }
            ExpectBlockEnd();
            return new IfStmt(pos, branches, elseBody);
        }
    }

    private ForStmt ParseFor(int pos)
    {
        var target = ParseAssignTarget(allowAttr: false);
        if (!SkipName("in")) throw Unexpected("'in'");
        var iter = ParseTuple(allowCond: false);
        Expr? filter = null;
        if (SkipName("if")) filter = ParseExpression();
        bool recursive = SkipName("recursive");
        ExpectBlockEnd();
        var body = ParseBody(["else", "endfor"], out var end);
        List<Node>? elseBody = null;
        if (end == "else")
        {
            ExpectBlockEnd();
            elseBody = ParseBody(["endfor"], out _);
        }
        ExpectBlockEnd();
        return new ForStmt(pos, target, iter, filter, body, elseBody, recursive);
    }

    private Expr ParseAssignTarget(bool allowAttr)
    {
        var names = new List<Expr>();
        bool tuple = false;
        bool paren = SkipOp("(");
        while (true)
        {
            int p = Cur.Pos;
            string name = ExpectName();
            if (allowAttr && !tuple && names.Count == 0 && Cur.IsOp("."))
            {
                _i++;
                string attr = ExpectName();
                if (paren) ExpectOp(")");
                return new GetAttrExpr(p, new NameExpr(p, name), attr);
            }
            names.Add(new NameExpr(p, name));
            if (!SkipOp(",")) break;
            tuple = true;
            if (Cur.Kind != TokenKind.Name) break;
        }
        if (paren) ExpectOp(")");
        return tuple || paren && names.Count > 1 ? new TupleExpr(names[0].Pos, names) : names[0];
    }

    private Node ParseSet(int pos)
    {
        var target = ParseAssignTarget(allowAttr: true);
        if (SkipOp("="))
        {
            var value = ParseTuple(allowCond: true);
            ExpectBlockEnd();
            return new SetStmt(pos, target, value);
        }
        var filters = SkipOp("|") ? ParseFilterChain() : [];
        ExpectBlockEnd();
        var body = ParseBody(["endset"], out _);
        ExpectBlockEnd();
        return new SetBlockStmt(pos, target, body, filters);
    }

    private List<(string Name, List<Expr> Args, List<(string, Expr)> Kwargs)> ParseFilterChain()
    {
        var list = new List<(string, List<Expr>, List<(string, Expr)>)>();
        bool first = true;
        while (first || SkipOp("|"))
        {
            first = false;
            string name = ParseDottedName();
            var args = new List<Expr>();
            var kwargs = new List<(string, Expr)>();
            if (Cur.IsOp("(")) ParseCallArgs(args, kwargs);
            list.Add((name, args, kwargs));
        }
        return list;
    }

    private string ParseDottedName()
    {
        string name = ExpectName();
        while (Cur.IsOp(".") && Peek().Kind == TokenKind.Name)
        {
            _i++;
            name += "." + Next().Value;
        }
        return name;
    }

    private List<(string, Expr?)> ParseParams()
    {
        var ps = new List<(string, Expr?)>();
        ExpectOp("(");
        while (!Cur.IsOp(")"))
        {
            if (ps.Count > 0) ExpectOp(",");
            if (Cur.IsOp(")")) break;
            string name = ExpectName();
            Expr? def = SkipOp("=") ? ParseExpression() : null;
            ps.Add((name, def));
        }
        ExpectOp(")");
        return ps;
    }

    private MacroStmt ParseMacro(int pos)
    {
        string name = ExpectName();
        var ps = ParseParams();
        ExpectBlockEnd();
        var body = ParseBody(["endmacro"], out _);
        ExpectBlockEnd();
        return new MacroStmt(pos, name, ps, body);
    }

    private CallBlockStmt ParseCallBlock(int pos)
    {
        var ps = Cur.IsOp("(") ? ParseParams() : [];
        var call = ParseExpression();
        if (call is not CallExpr ce) throw Error("expected a macro call after 'call'", call.Pos);
        ExpectBlockEnd();
        var body = ParseBody(["endcall"], out _);
        ExpectBlockEnd();
        return new CallBlockStmt(pos, ce, ps, body);
    }

    // ---------------- expressions ----------------

    /// <summary>An expression, or a tuple when commas follow (<c>a, b</c>), as in Jinja's parse_tuple.</summary>
    private Expr ParseTuple(bool allowCond)
    {
        int pos = Cur.Pos;
        var first = allowCond ? ParseExpression() : ParseOr();
        if (!Cur.IsOp(",")) return first;
        var items = new List<Expr> { first };
        while (SkipOp(","))
        {
            if (IsTupleEnd()) break;
            items.Add(allowCond ? ParseExpression() : ParseOr());
        }
        return new TupleExpr(pos, items);
    }

    private bool IsTupleEnd() =>
        Cur.Kind is TokenKind.VarEnd or TokenKind.BlockEnd or TokenKind.Eof || Cur.IsOp(")");

    private Expr ParseExpression()
    {
        Enter(Cur.Pos);
        var e = ParseOr();
        while (Cur.IsName("if"))
        {
            int pos = Next().Pos;
            var test = ParseOr();
            Expr? other = SkipName("else") ? ParseExpression() : null;
            e = new CondExpr(pos, test, e, other);
        }
        Leave();
        return e;
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Cur.IsName("or"))
        {
            int pos = Next().Pos;
            left = new BinaryExpr(pos, "or", left, ParseAnd());
        }
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Cur.IsName("and"))
        {
            int pos = Next().Pos;
            left = new BinaryExpr(pos, "and", left, ParseNot());
        }
        return left;
    }

    private Expr ParseNot()
    {
        if (Cur.IsName("not"))
        {
            int pos = Next().Pos;
            Enter(pos);
            var operand = ParseNot();
            Leave();
            return new UnaryExpr(pos, "not", operand);
        }
        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        int pos = Cur.Pos;
        var first = ParseMath1();
        List<(string, Expr)>? rest = null;
        while (true)
        {
            string? op = null;
            if (Cur.Kind == TokenKind.Op && Cur.Value is "==" or "!=" or "<" or ">" or "<=" or ">=")
                op = Next().Value;
            else if (Cur.IsName("in"))
            {
                _i++;
                op = "in";
            }
            else if (Cur.IsName("not") && Peek().IsName("in"))
            {
                _i += 2;
                op = "not in";
            }
            if (op is null) break;
            (rest ??= []).Add((op, ParseMath1()));
        }
        return rest is null ? first : new CompareExpr(pos, first, rest);
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Cur.IsOp("+") || Cur.IsOp("-"))
        {
            var op = Next();
            left = new BinaryExpr(op.Pos, op.Value, left, ParseConcat());
        }
        return left;
    }

    private Expr ParseConcat()
    {
        var left = ParseMath2();
        while (Cur.IsOp("~"))
        {
            var op = Next();
            left = new BinaryExpr(op.Pos, "~", left, ParseMath2());
        }
        return left;
    }

    private Expr ParseMath2()
    {
        var left = ParsePow();
        while (Cur.Kind == TokenKind.Op && Cur.Value is "*" or "/" or "//" or "%")
        {
            var op = Next();
            left = new BinaryExpr(op.Pos, op.Value, left, ParsePow());
        }
        return left;
    }

    private Expr ParsePow()
    {
        var left = ParseUnary(withFilter: true);
        while (Cur.IsOp("**"))
        {
            var op = Next();
            left = new BinaryExpr(op.Pos, "**", left, ParseUnary(withFilter: true));
        }
        return left;
    }

    private Expr ParseUnary(bool withFilter)
    {
        Expr node;
        if (Cur.IsOp("-") || Cur.IsOp("+"))
        {
            var op = Next();
            Enter(op.Pos);
            node = new UnaryExpr(op.Pos, op.Value, ParseUnary(withFilter: false));
            Leave();
        }
        else node = ParsePrimary();
        node = ParsePostfix(node);
        if (withFilter) node = ParseFilterExpr(node);
        return node;
    }

    private Expr ParsePrimary()
    {
        var t = Cur;
        switch (t.Kind)
        {
            case TokenKind.Name:
                _i++;
                return t.Value switch
                {
                    "true" or "True" => new ConstExpr(t.Pos, true),
                    "false" or "False" => new ConstExpr(t.Pos, false),
                    "none" or "None" => new ConstExpr(t.Pos, null),
                    _ => new NameExpr(t.Pos, t.Value),
                };
            case TokenKind.String:
            {
                _i++;
                string s = t.Value;
                while (Cur.Kind == TokenKind.String) s += Next().Value; // adjacent literals concatenate
                return new ConstExpr(t.Pos, s);
            }
            case TokenKind.Int: _i++; return new ConstExpr(t.Pos, t.IntValue);
            case TokenKind.Float: _i++; return new ConstExpr(t.Pos, t.FloatValue);
        }
        if (t.IsOp("("))
        {
            _i++;
            Enter(t.Pos);
            Expr e;
            if (Cur.IsOp(")")) e = new TupleExpr(t.Pos, []);
            else
            {
                e = ParseExpression();
                if (Cur.IsOp(","))
                {
                    var items = new List<Expr> { e };
                    while (SkipOp(",") && !Cur.IsOp(")")) items.Add(ParseExpression());
                    e = new TupleExpr(t.Pos, items);
                }
            }
            ExpectOp(")");
            Leave();
            return e;
        }
        if (t.IsOp("["))
        {
            _i++;
            Enter(t.Pos);
            var items = new List<Expr>();
            while (!Cur.IsOp("]"))
            {
                if (items.Count > 0) ExpectOp(",");
                if (Cur.IsOp("]")) break;
                items.Add(ParseExpression());
            }
            ExpectOp("]");
            Leave();
            return new ListExpr(t.Pos, items);
        }
        if (t.IsOp("{"))
        {
            _i++;
            Enter(t.Pos);
            var items = new List<(Expr, Expr)>();
            while (!Cur.IsOp("}"))
            {
                if (items.Count > 0) ExpectOp(",");
                if (Cur.IsOp("}")) break;
                var k = ParseExpression();
                ExpectOp(":");
                items.Add((k, ParseExpression()));
            }
            ExpectOp("}");
            Leave();
            return new DictExpr(t.Pos, items);
        }
        throw Unexpected("an expression");
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            var t = Cur;
            if (t.IsOp("."))
            {
                _i++;
                if (Cur.Kind == TokenKind.Name) node = new GetAttrExpr(t.Pos, node, Next().Value);
                else if (Cur.Kind == TokenKind.Int) node = new GetItemExpr(t.Pos, node, new ConstExpr(Cur.Pos, Next().IntValue));
                else throw Unexpected("an attribute name");
            }
            else if (t.IsOp("["))
            {
                _i++;
                Enter(t.Pos);
                node = ParseSubscript(t.Pos, node);
                Leave();
            }
            else if (t.IsOp("("))
            {
                node = ParseCall(node);
            }
            else return node;
        }
    }

    private Expr ParseSubscript(int pos, Expr obj)
    {
        Expr? start = null, stop = null, step = null;
        if (!Cur.IsOp(":")) start = ParseExpression();
        if (!Cur.IsOp(":"))
        {
            if (Cur.IsOp(","))
            {
                var items = new List<Expr> { start! };
                while (SkipOp(",") && !Cur.IsOp("]")) items.Add(ParseExpression());
                start = new TupleExpr(pos, items);
            }
            ExpectOp("]");
            return new GetItemExpr(pos, obj, start!);
        }
        _i++;
        if (!Cur.IsOp(":") && !Cur.IsOp("]")) stop = ParseExpression();
        if (SkipOp(":") && !Cur.IsOp("]")) step = ParseExpression();
        ExpectOp("]");
        return new SliceExpr(pos, obj, start, stop, step);
    }

    private CallExpr ParseCall(Expr callee)
    {
        int pos = Cur.Pos;
        Enter(pos);
        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        ParseCallArgs(args, kwargs);
        Leave();
        return new CallExpr(pos, callee, args, kwargs);
    }

    private void ParseCallArgs(List<Expr> args, List<(string, Expr)> kwargs)
    {
        ExpectOp("(");
        bool first = true;
        while (!Cur.IsOp(")"))
        {
            if (!first) ExpectOp(",");
            first = false;
            if (Cur.IsOp(")")) break;
            if (Cur.Kind == TokenKind.Name && Peek().IsOp("="))
            {
                string name = Next().Value;
                _i++;
                kwargs.Add((name, ParseExpression()));
            }
            else
            {
                if (kwargs.Count > 0) throw Error("positional argument after keyword argument", Cur.Pos);
                args.Add(ParseExpression());
            }
        }
        ExpectOp(")");
    }

    private Expr ParseFilterExpr(Expr node)
    {
        while (true)
        {
            var t = Cur;
            if (t.IsOp("|"))
            {
                _i++;
                string name = ParseDottedName();
                var args = new List<Expr>();
                var kwargs = new List<(string, Expr)>();
                if (Cur.IsOp("(")) ParseCallArgs(args, kwargs);
                node = new FilterExpr(t.Pos, node, name, args, kwargs);
            }
            else if (t.IsName("is"))
            {
                _i++;
                bool negated = SkipName("not");
                string name = ParseDottedName();
                var args = new List<Expr>();
                if (Cur.IsOp("("))
                {
                    var kwargs = new List<(string, Expr)>();
                    ParseCallArgs(args, kwargs);
                    args.AddRange(kwargs.Select(k => k.Item2));
                }
                else if (Cur.Kind is TokenKind.Name or TokenKind.String or TokenKind.Int or TokenKind.Float
                         || Cur.IsOp("[") || Cur.IsOp("{") || Cur.IsOp("-"))
                {
                    if (!(Cur.Kind == TokenKind.Name && Cur.Value is "else" or "or" or "and" or "if" or "in" or "is" or "not"))
                    {
                        // One bare argument: `x is divisibleby 3`, `x is sameas false`.
                        var arg = Cur.IsOp("-") ? ParseUnary(withFilter: false) : ParsePostfix(ParsePrimary());
                        args.Add(arg);
                    }
                }
                node = new TestExpr(t.Pos, node, name, args, negated);
            }
            else if (t.IsOp("("))
            {
                node = ParseCall(node);
            }
            else return node;
        }
    }
}
