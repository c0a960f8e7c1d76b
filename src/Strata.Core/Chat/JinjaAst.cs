namespace Strata.Chat;

// The template syntax tree. Every node keeps its source position for error messages.

internal abstract record Node(int Pos);

// ---- statements ----
internal sealed record TextStmt(int Pos, string Text) : Node(Pos);
internal sealed record OutputStmt(int Pos, Expr Value) : Node(Pos);
internal sealed record IfStmt(int Pos, List<(Expr Test, List<Node> Body)> Branches, List<Node>? Else) : Node(Pos);
internal sealed record ForStmt(int Pos, Expr Target, Expr Iter, Expr? Filter, List<Node> Body, List<Node>? Else, bool Recursive) : Node(Pos);
internal sealed record SetStmt(int Pos, Expr Target, Expr Value) : Node(Pos);
internal sealed record SetBlockStmt(int Pos, Expr Target, List<Node> Body, List<(string Name, List<Expr> Args, List<(string, Expr)> Kwargs)> Filters) : Node(Pos);
internal sealed record MacroStmt(int Pos, string Name, List<(string Name, Expr? Default)> Params, List<Node> Body) : Node(Pos);
internal sealed record CallBlockStmt(int Pos, CallExpr Call, List<(string Name, Expr? Default)> Params, List<Node> Body) : Node(Pos);
internal sealed record FilterBlockStmt(int Pos, List<(string Name, List<Expr> Args, List<(string, Expr)> Kwargs)> Filters, List<Node> Body) : Node(Pos);
internal sealed record BreakStmt(int Pos) : Node(Pos);
internal sealed record ContinueStmt(int Pos) : Node(Pos);
internal sealed record BodyStmt(int Pos, List<Node> Body) : Node(Pos);

// ---- expressions ----
internal abstract record Expr(int Pos) : Node(Pos);
internal sealed record ConstExpr(int Pos, object? Value) : Expr(Pos);
internal sealed record NameExpr(int Pos, string Name) : Expr(Pos);
internal sealed record GetAttrExpr(int Pos, Expr Obj, string Name) : Expr(Pos);
internal sealed record GetItemExpr(int Pos, Expr Obj, Expr Key) : Expr(Pos);
internal sealed record SliceExpr(int Pos, Expr Obj, Expr? Start, Expr? Stop, Expr? Step) : Expr(Pos);
internal sealed record CallExpr(int Pos, Expr Callee, List<Expr> Args, List<(string Name, Expr Value)> Kwargs) : Expr(Pos);
internal sealed record FilterExpr(int Pos, Expr Value, string Name, List<Expr> Args, List<(string Name, Expr Value)> Kwargs) : Expr(Pos);
internal sealed record TestExpr(int Pos, Expr Value, string Name, List<Expr> Args, bool Negated) : Expr(Pos);
internal sealed record UnaryExpr(int Pos, string Op, Expr Operand) : Expr(Pos);
internal sealed record BinaryExpr(int Pos, string Op, Expr Left, Expr Right) : Expr(Pos);
internal sealed record CompareExpr(int Pos, Expr First, List<(string Op, Expr Right)> Rest) : Expr(Pos);
internal sealed record CondExpr(int Pos, Expr Test, Expr Then, Expr? Else) : Expr(Pos);
internal sealed record ListExpr(int Pos, List<Expr> Items) : Expr(Pos);
internal sealed record TupleExpr(int Pos, List<Expr> Items) : Expr(Pos);
internal sealed record DictExpr(int Pos, List<(Expr Key, Expr Value)> Items) : Expr(Pos);
