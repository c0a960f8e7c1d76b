namespace Strata.Grammar;

/// <summary>
/// One pushdown stack of the matcher: the automaton state at the top and, below it, the states to return to. Stacks
/// are shared persistent lists, interned so that equal stacks are one object with one id.
/// </summary>
internal sealed class StackNode(int state, StackNode? parent, int id)
{
    public int State { get; } = state;
    public StackNode? Parent { get; } = parent;
    public int Id { get; } = id;
    public int Depth { get; } = parent is null ? 1 : parent.Depth + 1;
}

/// <summary>
/// A set of stacks, the whole state of a match (llama.cpp's grammar keeps the same set), made deterministic: each state
/// knows its successor per byte class once computed, so walking the vocabulary trie or accepting a token is mostly
/// array lookups. Its token mask is cached on it.
/// </summary>
internal sealed class DfaState
{
    public DfaState(StackNode[] stacks, bool canEnd, int classes)
    {
        Stacks = stacks;
        CanEnd = canEnd;
        Next = new DfaState?[classes];
        IsDead = stacks.Length == 0 && !canEnd;
    }

    /// <summary>Stacks whose top state consumes a byte, sorted by id. The match having ended is <see cref="CanEnd"/>.</summary>
    public StackNode[] Stacks { get; }
    /// <summary>The start rule can have ended here: the text so far is a complete match.</summary>
    public bool CanEnd { get; }
    public DfaState?[] Next { get; }
    /// <summary>Nothing can follow and the match cannot end: the text so far is not a prefix of the language.</summary>
    public bool IsDead { get; }
    /// <summary>Complete and nothing more can follow.</summary>
    public bool IsComplete => Stacks.Length == 0 && CanEnd;
    /// <summary>The token mask from this state (owned by <see cref="TokenGrammar"/>).</summary>
    public TokenMask? Mask { get; set; }
}

/// <summary>
/// The deterministic automaton of a <see cref="ByteNfa"/>, built lazily (states are sets of stacks, created the first
/// time a byte leads to them). Bounded: stacks deeper than <see cref="MaxDepth"/> are dropped, a set keeps at most
/// <see cref="MaxStacks"/> stacks, and past <see cref="MaxStates"/> states the table is cleared and rebuilt as needed
/// (states held by matchers stay valid). Thread-safe: lookups read published entries; misses compute under a lock.
/// </summary>
internal sealed class GrammarDfa
{
    public const int MaxDepth = 1024;
    public const int MaxStacks = 4096;
    public const int MaxStates = 50_000;

    private readonly ByteNfa _nfa;
    private readonly object _gate = new();
    private readonly Dictionary<(int, int), StackNode> _nodes = new();
    private readonly Dictionary<StackKey, DfaState> _states = new();
    private readonly List<DfaState> _all = new();
    private int _nextId = 1;

    // Scratch of a transition, reused under the lock.
    private readonly HashSet<(int, int)> _visited = new();
    private readonly List<StackNode> _result = new();
    private readonly Stack<(int State, StackNode? Parent)> _work = new();
    private bool _resultCanEnd;

    public GrammarDfa(ByteNfa nfa)
    {
        _nfa = nfa;
        lock (_gate)
        {
            BeginClosure();
            Closure(nfa.RuleStart[nfa.StartRule], null);
            Start = EndClosure();
        }
    }

    public ByteNfa Nfa => _nfa;
    public DfaState Start { get; }
    public object Gate => _gate;
    /// <summary>How many times the table was cleared for size (for tests and diagnostics).</summary>
    public int Flushes { get; private set; }
    public int StateCount { get { lock (_gate) return _states.Count; } }

    public DfaState Step(DfaState s, byte b)
    {
        int c = _nfa.ClassOf[b];
        return s.Next[c] ?? Compute(s, c);
    }

    /// <summary>The successor of <paramref name="s"/> on byte class <paramref name="c"/>, computed and remembered.</summary>
    public DfaState Compute(DfaState s, int c)
    {
        lock (_gate)
        {
            if (s.Next[c] is { } known) return known;
            byte b = _nfa.ClassRepresentative[c];
            BeginClosure();
            foreach (var stack in s.Stacks)
            {
                int q = stack.State;
                for (int e = _nfa.EdgeStart[q]; e < _nfa.EdgeStart[q + 1]; e++)
                    if (_nfa.Kind[e] == ByteNfa.ByteEdge && b >= _nfa.Lo[e] && b <= _nfa.Hi[e])
                        Closure(_nfa.Target[e], stack.Parent);
            }
            var next = EndClosure();
            s.Next[c] = next;
            return next;
        }
    }

    private void BeginClosure()
    {
        _visited.Clear();
        _result.Clear();
        _resultCanEnd = false;
    }

    /// <summary>Every stack reachable from (state, parent) without consuming a byte: epsilon steps, calls (pushing the
    /// return state unless it is a tail), and rule ends (popping). Stacks whose top consumes bytes are collected.</summary>
    private void Closure(int state, StackNode? parent)
    {
        _work.Clear();
        _work.Push((state, parent));
        while (_work.Count > 0)
        {
            var (q, p) = _work.Pop();
            if (!_visited.Add((q, p?.Id ?? 0))) continue;
            if (_nfa.HasByteEdges[q] && _result.Count < MaxStacks) _result.Add(Node(q, p));
            if (_nfa.Accept[q])
            {
                if (p is null) _resultCanEnd = true;
                else _work.Push((p.State, p.Parent));
            }
            for (int e = _nfa.EdgeStart[q]; e < _nfa.EdgeStart[q + 1]; e++)
            {
                switch (_nfa.Kind[e])
                {
                    case ByteNfa.EpsilonEdge:
                        _work.Push((_nfa.Target[e], p));
                        break;
                    case ByteNfa.CallEdge:
                    {
                        int ret = _nfa.Target[e];
                        var frame = _nfa.Tail[ret] ? p : Node(ret, p);
                        if (frame is not null && frame.Depth > MaxDepth) break;
                        _work.Push((_nfa.RuleStart[_nfa.Callee[e]], frame));
                        break;
                    }
                }
            }
        }
    }

    private DfaState EndClosure()
    {
        var stacks = _result.Count == 0 ? [] : _result.DistinctBy(n => n.Id).OrderBy(n => n.Id).ToArray();
        var key = new StackKey(stacks, _resultCanEnd);
        if (_states.TryGetValue(key, out var existing)) return existing;
        if (_states.Count >= MaxStates) Flush();
        var state = new DfaState(stacks, _resultCanEnd, _nfa.ClassCount);
        _states[key] = state;
        _all.Add(state);
        return state;
    }

    private StackNode Node(int state, StackNode? parent)
    {
        var key = (state, parent?.Id ?? 0);
        if (!_nodes.TryGetValue(key, out var node))
        {
            node = new StackNode(state, parent, _nextId++);
            _nodes[key] = node;
        }
        return node;
    }

    /// <summary>Forgets every state and stack so memory stays bounded; states still held keep their stacks (their
    /// successors are recomputed into the new table), so no matcher is affected beyond speed.</summary>
    private void Flush()
    {
        foreach (var s in _all)
        {
            Array.Clear(s.Next);
            s.Mask = null;
        }
        _all.Clear();
        _states.Clear();
        _nodes.Clear();
        Flushes++;
        MaskFlushed?.Invoke();
    }

    /// <summary>Raised under the lock when a flush dropped the masks (the owner resets its accounting).</summary>
    public event Action? MaskFlushed;

    /// <summary>A state's identity: its stack ids and whether it can end.</summary>
    private readonly struct StackKey(StackNode[] stacks, bool canEnd) : IEquatable<StackKey>
    {
        private readonly StackNode[] _stacks = stacks;
        private readonly bool _canEnd = canEnd;

        public bool Equals(StackKey other)
        {
            if (_canEnd != other._canEnd || _stacks.Length != other._stacks.Length) return false;
            for (int i = 0; i < _stacks.Length; i++)
                if (_stacks[i].Id != other._stacks[i].Id) return false;
            return true;
        }

        public override bool Equals(object? obj) => obj is StackKey k && Equals(k);

        public override int GetHashCode()
        {
            var h = new HashCode();
            h.Add(_canEnd);
            foreach (var s in _stacks) h.Add(s.Id);
            return h.ToHashCode();
        }
    }
}
