namespace Strata.Grammar;

/// <summary>
/// A grammar compiled to a pushdown automaton over bytes: each rule's body is a nondeterministic automaton whose edges
/// consume a byte range, take an epsilon step, or call another rule (pushing the state to return to). Repetition is
/// compiled to loops and bounded chains, not to helper rules, so matching a long repetition never deepens the stack.
/// Edges are stored flat (CSR): the edges of state q are [EdgeStart[q], EdgeStart[q + 1]).
/// </summary>
internal sealed class ByteNfa
{
    public const byte ByteEdge = 0, EpsilonEdge = 1, CallEdge = 2;

    public required int[] EdgeStart { get; init; }
    public required byte[] Kind { get; init; }
    public required byte[] Lo { get; init; }
    public required byte[] Hi { get; init; }
    public required int[] Target { get; init; }
    /// <summary>The rule a call edge enters (its <see cref="Target"/> is the return state).</summary>
    public required int[] Callee { get; init; }
    /// <summary>States where their rule ends (returning to the caller, or ending the match for the start rule).</summary>
    public required bool[] Accept { get; init; }
    /// <summary>States from which the rule can only end, consuming nothing more: a call returning to one needs no
    /// stack frame (tail call), which keeps right recursion from growing the stack.</summary>
    public required bool[] Tail { get; init; }
    public required bool[] HasByteEdges { get; init; }
    public required int[] RuleStart { get; init; }
    public required string[] RuleNames { get; init; }
    public required int StartRule { get; init; }
    /// <summary>Bytes that every edge treats alike share a class; a deterministic state needs one entry per class.</summary>
    public required byte[] ClassOf { get; init; }
    public required byte[] ClassRepresentative { get; init; }

    public int StateCount => Accept.Length;
    public int ClassCount => ClassRepresentative.Length;
}

/// <summary>Compiles a checked <see cref="Grammar"/> to a <see cref="ByteNfa"/>, refusing left recursion and
/// grammars that expand beyond <see cref="MaxStates"/> states.</summary>
internal sealed class ByteNfaBuilder
{
    public const int MaxStates = 1_000_000;

    private readonly List<int> _from = new(), _target = new(), _callee = new();
    private readonly List<byte> _kind = new(), _lo = new(), _hi = new();
    private readonly List<bool> _accept = new();
    private readonly Dictionary<string, int> _ruleIndex = new(StringComparer.Ordinal);
    private readonly Dictionary<GrammarCharClass, List<(byte Lo, byte Hi)[]>> _classSequences = new();

    public static ByteNfa Build(Grammar grammar) => new ByteNfaBuilder().Compile(grammar);

    private ByteNfa Compile(Grammar g)
    {
        for (int i = 0; i < g.Rules.Count; i++) _ruleIndex[g.Rules[i].Name] = i;
        var starts = new int[g.Rules.Count];
        for (int i = 0; i < g.Rules.Count; i++)
        {
            starts[i] = NewState();
            int end = Node(g.Rules[i].Body, starts[i]);
            _accept[end] = true;
        }
        int n = _accept.Count;

        // Counting sort of the edges by source state into CSR arrays.
        var edgeStart = new int[n + 1];
        foreach (int f in _from) edgeStart[f + 1]++;
        for (int i = 0; i < n; i++) edgeStart[i + 1] += edgeStart[i];
        int m = _from.Count;
        var kind = new byte[m];
        var lo = new byte[m];
        var hi = new byte[m];
        var target = new int[m];
        var callee = new int[m];
        var fill = (int[])edgeStart.Clone();
        for (int e = 0; e < m; e++)
        {
            int at = fill[_from[e]]++;
            kind[at] = _kind[e]; lo[at] = _lo[e]; hi[at] = _hi[e]; target[at] = _target[e]; callee[at] = _callee[e];
        }
        var accept = _accept.ToArray();
        var hasBytes = new bool[n];
        for (int q = 0; q < n; q++)
            for (int e = edgeStart[q]; e < edgeStart[q + 1]; e++)
                if (kind[e] == ByteNfa.ByteEdge) hasBytes[q] = true;

        var (classOf, reps) = ByteClasses(kind, lo, hi);
        var nfa = new ByteNfa
        {
            EdgeStart = edgeStart, Kind = kind, Lo = lo, Hi = hi, Target = target, Callee = callee, Accept = accept,
            Tail = TailStates(edgeStart, kind, target, accept), HasByteEdges = hasBytes, RuleStart = starts,
            RuleNames = g.Rules.Select(r => r.Name).ToArray(), StartRule = _ruleIndex[g.Start],
            ClassOf = classOf, ClassRepresentative = reps,
        };
        LeftRecursion.Check(nfa, g);
        return nfa;
    }

    private int NewState()
    {
        if (_accept.Count >= MaxStates)
            throw new GrammarException($"the grammar expands to more than {MaxStates:N0} automaton states (are repetition counts too large?)");
        _accept.Add(false);
        return _accept.Count - 1;
    }

    private void Edge(int from, byte kind, int to, byte lo = 0, byte hi = 0, int callee = -1)
    {
        _from.Add(from); _kind.Add(kind); _target.Add(to); _lo.Add(lo); _hi.Add(hi); _callee.Add(callee);
    }

    /// <summary>Adds the automaton of <paramref name="node"/> starting at <paramref name="from"/>; returns its end state.</summary>
    private int Node(GrammarNode node, int from)
    {
        switch (node)
        {
            case GrammarSequence s:
            {
                int cur = from;
                foreach (var item in s.Items) cur = Node(item, cur);
                return cur;
            }
            case GrammarAlternation a:
            {
                // Each option gets a fresh entry state, so a loop inside one option cannot re-enter the others.
                int end = NewState();
                foreach (var option in a.Options)
                {
                    int entry = NewState();
                    Edge(from, ByteNfa.EpsilonEdge, entry);
                    Edge(Node(option, entry), ByteNfa.EpsilonEdge, end);
                }
                return end;
            }
            case GrammarLiteral l:
            {
                int cur = from;
                Span<byte> buf = stackalloc byte[4];
                foreach (var rune in l.Text.EnumerateRunes())
                {
                    int len = Utf8Ranges.Encode(rune.Value, buf);
                    for (int i = 0; i < len; i++)
                    {
                        int next = NewState();
                        Edge(cur, ByteNfa.ByteEdge, next, buf[i], buf[i]);
                        cur = next;
                    }
                }
                return cur;
            }
            case GrammarCharClass c:
                return CharClass(c, from);
            case GrammarRuleRef r:
            {
                int ret = NewState();
                Edge(from, ByteNfa.CallEdge, ret, callee: _ruleIndex[r.Name]);
                return ret;
            }
            case GrammarRepeat r:
                return Repeat(r, from);
            default:
                throw new InvalidOperationException("unknown grammar node " + node.GetType().Name);
        }
    }

    private int Repeat(GrammarRepeat r, int from)
    {
        int cur = from;
        if (r.Max is null)
        {
            // x{m,}: m-1 copies, then one copy that loops on itself (x+); x*: a loop state with an exit.
            if (r.Min == 0)
            {
                int loop = NewState();
                Edge(cur, ByteNfa.EpsilonEdge, loop);
                Edge(Node(r.Item, loop), ByteNfa.EpsilonEdge, loop);
                int exit = NewState();
                Edge(loop, ByteNfa.EpsilonEdge, exit);
                return exit;
            }
            for (int i = 0; i < r.Min - 1; i++) cur = Node(r.Item, cur);
            int again = NewState();
            Edge(cur, ByteNfa.EpsilonEdge, again);
            int end = Node(r.Item, again);
            Edge(end, ByteNfa.EpsilonEdge, again);
            return end;
        }
        for (int i = 0; i < r.Min; i++) cur = Node(r.Item, cur);
        int optional = r.Max.Value - r.Min;
        if (optional == 0) return cur;
        // x{0,k} as nested options (x (x (x)?)?)?: after each copy exactly one way on, so matching stays deterministic.
        int done = NewState();
        for (int i = 0; i < optional; i++)
        {
            Edge(cur, ByteNfa.EpsilonEdge, done);
            cur = Node(r.Item, cur);
        }
        Edge(cur, ByteNfa.EpsilonEdge, done);
        return done;
    }

    /// <summary>A character class as a byte trie from <paramref name="from"/> to one end state: sequences that share
    /// leading byte ranges share states, so the class stays deterministic.</summary>
    private int CharClass(GrammarCharClass c, int from)
    {
        if (!_classSequences.TryGetValue(c, out var sequences))
        {
            sequences = new List<(byte, byte)[]>();
            foreach (var (lo, hi) in Utf8Ranges.Normalize(c.Ranges, c.Negated)) sequences.AddRange(Utf8Ranges.Sequences(lo, hi));
            _classSequences[c] = sequences;
        }
        int end = NewState();
        var inner = new Dictionary<(int, byte, byte), int>();
        foreach (var seq in sequences)
        {
            int cur = from;
            for (int i = 0; i < seq.Length - 1; i++)
            {
                var key = (cur, seq[i].Lo, seq[i].Hi);
                if (!inner.TryGetValue(key, out int next))
                {
                    next = NewState();
                    Edge(cur, ByteNfa.ByteEdge, next, seq[i].Lo, seq[i].Hi);
                    inner[key] = next;
                }
                cur = next;
            }
            Edge(cur, ByteNfa.ByteEdge, end, seq[^1].Lo, seq[^1].Hi);
        }
        return end;
    }

    /// <summary>States that can only end their rule: no byte or call edges and every epsilon step leads to such a
    /// state (the greatest set closed under that rule).</summary>
    private static bool[] TailStates(int[] edgeStart, byte[] kind, int[] target, bool[] accept)
    {
        int n = accept.Length;
        var tail = new bool[n];
        for (int q = 0; q < n; q++)
        {
            bool onlyEps = accept[q] || edgeStart[q + 1] > edgeStart[q];
            for (int e = edgeStart[q]; e < edgeStart[q + 1] && onlyEps; e++) onlyEps = kind[e] == ByteNfa.EpsilonEdge;
            tail[q] = onlyEps;
        }
        bool changed = true;
        while (changed)
        {
            changed = false;
            for (int q = 0; q < n; q++)
            {
                if (!tail[q]) continue;
                for (int e = edgeStart[q]; e < edgeStart[q + 1]; e++)
                    if (!tail[target[e]]) { tail[q] = false; changed = true; break; }
            }
        }
        return tail;
    }

    private static (byte[] ClassOf, byte[] Representatives) ByteClasses(byte[] kind, byte[] lo, byte[] hi)
    {
        var boundary = new bool[257];
        boundary[0] = true;
        for (int e = 0; e < kind.Length; e++)
        {
            if (kind[e] != ByteNfa.ByteEdge) continue;
            boundary[lo[e]] = true;
            boundary[hi[e] + 1] = true;
        }
        var classOf = new byte[256];
        var reps = new List<byte>();
        for (int b = 0; b < 256; b++)
        {
            if (boundary[b]) reps.Add((byte)b);
            classOf[b] = (byte)(reps.Count - 1);
        }
        return (classOf, reps.ToArray());
    }
}
