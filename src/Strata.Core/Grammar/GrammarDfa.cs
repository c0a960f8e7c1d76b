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
/// A set of stacks, the whole state of a match (llama.cpp's grammar keeps the same set), made deterministic: its
/// successor per byte class is computed once and kept in the automaton's transition table, so walking the vocabulary
/// trie or accepting a token is mostly array lookups. Its token mask is cached on it.
/// </summary>
internal sealed class DfaState
{
    public DfaState(StackNode[] stacks, bool canEnd)
    {
        Stacks = stacks;
        CanEnd = canEnd;
        IsDead = stacks.Length == 0 && !canEnd;
    }

    /// <summary>Stacks whose top state consumes a byte, sorted by id.</summary>
    public StackNode[] Stacks { get; }
    /// <summary>The start rule can have ended here: the text so far is a complete match.</summary>
    public bool CanEnd { get; }
    /// <summary>Nothing can follow and the match cannot end: the text so far is not a prefix of the language.</summary>
    public bool IsDead { get; }
    /// <summary>Complete and nothing more can follow.</summary>
    public bool IsComplete => Stacks.Length == 0 && CanEnd;
    /// <summary>The token mask from this state (owned by <see cref="TokenGrammar"/>).</summary>
    public TokenMask? Mask { get; set; }
    /// <summary>Its row in the transition table, valid while <see cref="Generation"/> is the automaton's.</summary>
    public int Id { get; set; }
    public int Generation { get; set; }
}

/// <summary>
/// The deterministic automaton of a <see cref="ByteNfa"/>, built lazily (states are sets of stacks, created the first
/// time a byte leads to them). Bounded: stacks deeper than <see cref="MaxDepth"/> are dropped, a set keeps at most
/// <see cref="MaxStacks"/> stacks, and past <see cref="MaxStates"/> states the table is cleared and rebuilt as needed
/// (states held by matchers keep their stacks and get a row again). Thread-safe: everything runs under one lock.
/// </summary>
internal sealed class GrammarDfa
{
    public const int MaxDepth = 1024;
    public const int MaxStacks = 4096;
    public const int MaxStates = 20_000;

    private readonly ByteNfa _nfa;
    private readonly object _gate = new();
    private readonly Dictionary<(int, int), StackNode> _nodes = new();
    private readonly Dictionary<StackKey, DfaState> _states = new();
    private readonly List<DfaState> _byId = new();
    private int[] _trans = [];          // [state id * classes + class]: successor id, -1 until computed
    private readonly int _classes;
    private int _generation;
    private int _nextId = 1;

    // Scratch of a transition, reused under the lock.
    private readonly HashSet<(int, int)> _visited = new();
    private readonly List<StackNode> _result = new();
    private readonly Stack<(int State, StackNode? Parent)> _work = new();
    private bool _resultCanEnd;

    public GrammarDfa(ByteNfa nfa)
    {
        _nfa = nfa;
        _classes = nfa.ClassCount;
        lock (_gate)
        {
            Reset();
            BeginClosure();
            Closure(nfa.RuleStart[nfa.StartRule], null);
            Start = EndClosure();
        }
    }

    public ByteNfa Nfa => _nfa;
    public DfaState Start { get; }
    /// <summary>Held while the table is read or grown; <see cref="TokenGrammar"/> walks the trie under it.</summary>
    public object Gate => _gate;
    /// <summary>The id of the dead state (no stacks, cannot end).</summary>
    public const int DeadId = 0;
    public int Classes => _classes;
    /// <summary>How many times the table was cleared for size (for tests and diagnostics).</summary>
    public int Flushes { get; private set; }
    public int StateCount { get { lock (_gate) return _states.Count; } }

    /// <summary>The state after byte <paramref name="b"/>.</summary>
    public DfaState Step(DfaState s, byte b)
    {
        lock (_gate)
        {
            FlushIfFull();
            return _byId[Next(IdOf(s), _nfa.ClassOf[b])];
        }
    }

    /// <summary>Under the lock: the table row of a state, giving it a row again if a flush dropped it.</summary>
    public int IdOf(DfaState s)
    {
        if (s.Generation == _generation) return s.Id;
        var key = new StackKey(s.Stacks, s.CanEnd);
        if (_states.TryGetValue(key, out var known)) return known.Id;
        _states[key] = s;
        Register(s);
        return s.Id;
    }

    public DfaState StateOf(int id) => _byId[id];

    /// <summary>Under the lock: the transition table (it is replaced as it grows, so read it again after <see cref="Next"/>).</summary>
    public int[] Table => _trans;

    /// <summary>Under the lock: the successor id of state <paramref name="id"/> on class <paramref name="c"/>.</summary>
    public int Next(int id, int c)
    {
        int t = _trans[id * _classes + c];
        return t >= 0 ? t : Compute(id, c);
    }

    /// <summary>Under the lock: per state id, two words: bit b set when byte b (b &lt; 127) leads from the state back to
    /// itself, bit 127 when every byte from 0x7F up does (the layout of <see cref="VocabTrie.Below"/>). Entries of
    /// states not yet seen by <see cref="ComputeSelfLoops"/> are unknown (<see cref="SelfLoopsKnown"/>).</summary>
    public ulong[] SelfLoopBits => _loops;
    public bool[] SelfLoopsKnown => _loopKnown;

    /// <summary>Under the lock: fills the self-loop words of a state (the arrays may be replaced: read them again).</summary>
    public void ComputeSelfLoops(int id)
    {
        if (id >= _loopKnown.Length)
        {
            int size = Math.Max(id + 1, _loopKnown.Length * 2);
            Array.Resize(ref _loopKnown, size);
            Array.Resize(ref _loops, 2 * size);
        }
        if (_loopKnown[id]) return;
        ulong low = 0, high = 0;
        var classOf = _nfa.ClassOf;
        for (int b = 0; b < 127; b++)
            if (Next(id, classOf[b]) == id)
            {
                if (b < 64) low |= 1UL << b;
                else high |= 1UL << (b - 64);
            }
        bool rest = true;
        for (int b = 127; b < 256 && rest; b++) rest = Next(id, classOf[b]) == id;
        if (rest) high |= 1UL << 63;
        _loops[2 * id] = low;
        _loops[2 * id + 1] = high;
        _loopKnown[id] = true;
    }

    private ulong[] _loops = [];
    private bool[] _loopKnown = [];

    private int Compute(int id, int c)
    {
        var s = _byId[id];
        byte b = _nfa.ClassRepresentative[c];
        BeginClosure();
        foreach (var stack in s.Stacks)
        {
            int q = stack.State;
            for (int e = _nfa.EdgeStart[q]; e < _nfa.EdgeStart[q + 1]; e++)
                if (_nfa.Kind[e] == ByteNfa.ByteEdge && b >= _nfa.Lo[e] && b <= _nfa.Hi[e])
                    Closure(_nfa.Target[e], stack.Parent);
        }
        int next = EndClosure().Id;
        _trans[id * _classes + c] = next;
        return next;
    }

    /// <summary>Under the lock, between walks: past <see cref="MaxStates"/> states, start the table afresh.</summary>
    public void FlushIfFull()
    {
        if (_states.Count < MaxStates) return;
        foreach (var st in _byId) st.Mask = null;
        Flushes++;
        Reset();
        MaskFlushed?.Invoke();
    }

    private void Reset()
    {
        _generation++;
        _states.Clear();
        _byId.Clear();
        _nodes.Clear();
        _trans = new int[Math.Max(64, _classes * 256)];
        _loopKnown = [];
        _loops = [];
        Array.Fill(_trans, -1);
        var dead = new DfaState([], false);
        _states[new StackKey(dead.Stacks, false)] = dead;
        Register(dead);
    }

    private void Register(DfaState s)
    {
        s.Id = _byId.Count;
        s.Generation = _generation;
        _byId.Add(s);
        int need = _byId.Count * _classes;
        if (need > _trans.Length)
        {
            int old = _trans.Length;
            Array.Resize(ref _trans, Math.Max(need, old * 2));
            _trans.AsSpan(old).Fill(-1);
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
        var state = new DfaState(stacks, _resultCanEnd);
        _states[key] = state;
        Register(state);
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
