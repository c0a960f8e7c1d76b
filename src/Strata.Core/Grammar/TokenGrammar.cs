using System.Runtime.CompilerServices;
using Strata.Tokenizers;

namespace Strata.Grammar;

/// <summary>
/// A grammar compiled against a tokenizer's vocabulary, shared by every sequence that generates under it (each with
/// its own <see cref="GrammarMatcher"/>). A state's token mask is found by walking the vocabulary trie with the
/// grammar's deterministic automaton, skipping every subtree whose prefix the grammar rules out, and is cached on the
/// state; so are the automaton's transitions. Repeated requests with the same grammar text get the same object
/// (<see cref="Get"/>), and with it everything already computed. Thread-safe.
/// </summary>
public sealed class TokenGrammar
{
    /// <summary>Cached masks are dropped, oldest first, beyond this many bytes per grammar.</summary>
    public const long MaskCacheBytes = 16L << 20;
    private const int GrammarsPerVocabulary = 16;
    /// <summary>Subtrees at least this large are checked for a state that loops on all their bytes.</summary>
    private const int SkipAtLeast = 8;

    private static readonly ConditionalWeakTable<ITokenizer, GrammarCache> Caches = new();

    private readonly ITokenizer _tokenizer;
    private readonly Queue<DfaState> _masked = new();
    private readonly ulong[] _scratch;
    private long _maskBytes;

    private readonly IReadOnlySet<int>? _controlsAsText;

    private TokenGrammar(Grammar grammar, ITokenizer tokenizer, int vocabSize, IReadOnlySet<int>? controlsAsText)
    {
        if (vocabSize <= 0) throw new ArgumentOutOfRangeException(nameof(vocabSize));
        Grammar = grammar;
        _tokenizer = tokenizer;
        VocabSize = vocabSize;
        _controlsAsText = controlsAsText is { Count: > 0 } ? controlsAsText : null;
        Trie = VocabTrie.For(tokenizer, vocabSize, _controlsAsText);
        Dfa = new GrammarDfa(grammar.Automaton);
        Dfa.MaskFlushed += () => { _masked.Clear(); _maskBytes = 0; };
        _scratch = new ulong[(vocabSize + 63) / 64];
        _path = new int[Trie.MaxDepth + 1];
    }

    private readonly int[] _path;

    public Grammar Grammar { get; }
    /// <summary>The number of logits masks cover (the model's vocabulary, which may exceed the tokenizer's).</summary>
    public int VocabSize { get; }
    internal VocabTrie Trie { get; }
    internal GrammarDfa Dfa { get; }
    internal ITokenizer Tokenizer => _tokenizer;

    /// <summary>Compiles <paramref name="grammar"/> for the vocabulary (the trie is built once per tokenizer).</summary>
    public static TokenGrammar Compile(Grammar grammar, ITokenizer tokenizer, int vocabSize, IReadOnlySet<int>? controlsAsText = null) =>
        new(grammar, tokenizer, vocabSize, controlsAsText);

    /// <summary>The compiled grammar of GBNF <paramref name="gbnf"/> for the vocabulary: the same object for the same
    /// text while it stays among the most recently used.</summary>
    /// <param name="controlsAsText">Control tokens the grammar may emit as the text they stand for (a chat format's
    /// call markers, <see cref="Strata.Engine.GenerationOptions.ShownControlTokens"/>); others it never emits.</param>
    /// <exception cref="GrammarException">the text is not a valid grammar.</exception>
    public static TokenGrammar Get(string gbnf, ITokenizer tokenizer, int vocabSize, IReadOnlySet<int>? controlsAsText = null)
    {
        var cache = Caches.GetValue(tokenizer, _ => new GrammarCache());
        var key = (vocabSize, VocabTrie.Key(controlsAsText) + "\n" + gbnf);
        lock (cache)
            if (cache.TryGet(key, out var known)) return known;
        var compiled = new TokenGrammar(Gbnf.Parse(gbnf), tokenizer, vocabSize, controlsAsText);
        lock (cache) return cache.Add(key, compiled);
    }

    public GrammarMatcher NewMatcher() => new(this);

    /// <summary>The mask of a state, from its cache or computed now.</summary>
    internal TokenMask MaskOf(DfaState s)
    {
        var known = s.Mask;
        if (known is not null) return known;
        lock (Dfa.Gate)
        {
            if (s.Mask is { } m) return m;
            Dfa.FlushIfFull();
            var mask = Walk(s);
            s.Mask = mask;
            _masked.Enqueue(s);
            _maskBytes += mask.Bytes;
            while (_maskBytes > MaskCacheBytes && _masked.Count > 1)
            {
                var old = _masked.Dequeue();
                if (old.Mask is { } gone) _maskBytes -= gone.Bytes;
                old.Mask = null;
            }
            return mask;
        }
    }

    /// <summary>
    /// Depth-first over the trie in its stored order, with the automaton state of each depth's prefix: a node whose
    /// prefix leads nowhere skips its subtree; a node where tokens end allows them. End-of-generation tokens are
    /// allowed where the grammar can end, or where nothing at all is allowed (a vocabulary that cannot spell what the
    /// grammar needs ends the text rather than breaking it). Runs under the automaton's lock.
    /// </summary>
    private TokenMask Walk(DfaState start)
    {
        var bits = _scratch.AsSpan();
        bits.Clear();
        int count = 0;
        var t = Trie;
        var label = t.Label;
        var depth = t.Depth;
        var subtreeEnd = t.SubtreeEnd;
        var tokenCount = t.TokenCount;
        var tokenFirst = t.TokenFirst;
        var tokens = t.Tokens;
        var below = t.Below;
        var tokensBefore = t.TokensBefore;
        var classOf = Dfa.Nfa.ClassOf;
        int classes = Dfa.Classes;
        var path = _path;
        path[0] = Dfa.IdOf(start);
        var table = Dfa.Table;
        var known = Dfa.SelfLoopsKnown;
        var loops = Dfa.SelfLoopBits;
        if (!start.IsComplete)
        {
            int n = t.NodeCount;
            for (int i = 0; i < n;)
            {
                int d = depth[i];
                int c = classOf[label[i]];
                int prev = path[d - 1];
                int next = table[prev * classes + c];
                if (next < 0)
                {
                    next = Dfa.Next(prev, c);
                    table = Dfa.Table;
                }
                if (next == GrammarDfa.DeadId) { i = subtreeEnd[i]; continue; }
                int end = subtreeEnd[i];
                if (end - i > SkipAtLeast)
                {
                    // A state that stays itself on every byte below (inside a string, most of them) allows the whole
                    // subtree: its tokens are one run of the sorted token array.
                    if (next >= known.Length || !known[next])
                    {
                        Dfa.ComputeSelfLoops(next);
                        known = Dfa.SelfLoopsKnown;
                        loops = Dfa.SelfLoopBits;
                        table = Dfa.Table;
                    }
                    if ((below[2 * i] & ~loops[2 * next]) == 0 && (below[2 * i + 1] & ~loops[2 * next + 1]) == 0)
                    {
                        int from = tokensBefore[i], to = tokensBefore[end];
                        for (int j = from; j < to; j++)
                        {
                            int id = tokens[j];
                            bits[id >> 6] |= 1UL << id;
                        }
                        count += to - from;
                        i = end;
                        continue;
                    }
                }
                path[d] = next;
                int k = tokenCount[i];
                if (k != 0)
                {
                    int first = tokenFirst[i];
                    for (int j = first; j < first + k; j++)
                    {
                        int id = tokens[j];
                        bits[id >> 6] |= 1UL << id;
                    }
                    count += k;
                }
                i++;
            }
        }
        if (start.CanEnd || count == 0)
            foreach (int id in t.EndTokens)
            {
                ulong bit = 1UL << id;
                if ((bits[id >> 6] & bit) == 0) { bits[id >> 6] |= bit; count++; }
            }
        return TokenMask.From(bits, count, VocabSize);
    }

    /// <summary>The state after a token's piece, or null when the grammar does not allow it.</summary>
    internal DfaState? Advance(DfaState s, int token)
    {
        if (!Trie.HasPiece(token)) return null;
        var classOf = Dfa.Nfa.ClassOf;
        lock (Dfa.Gate)
        {
            Dfa.FlushIfFull();
            int id = Dfa.IdOf(s);
            foreach (byte b in _tokenizer.TokenBytes(token, special: _controlsAsText?.Contains(token) == true))
            {
                id = Dfa.Next(id, classOf[b]);
                if (id == GrammarDfa.DeadId) return null;
            }
            return Dfa.StateOf(id);
        }
    }

    internal bool IsEndToken(int token) => Array.IndexOf(Trie.EndTokens, token) >= 0;

    /// <summary>The most recently used compiled grammars of one vocabulary, by (vocabulary size, GBNF text).</summary>
    private sealed class GrammarCache
    {
        private readonly LinkedList<((int, string) Key, TokenGrammar Grammar)> _order = new();
        private readonly Dictionary<(int, string), LinkedListNode<((int, string), TokenGrammar)>> _index = new();

        public bool TryGet((int, string) key, out TokenGrammar grammar)
        {
            if (_index.TryGetValue(key, out var node))
            {
                _order.Remove(node);
                _order.AddFirst(node);
                grammar = node.Value.Item2;
                return true;
            }
            grammar = null!;
            return false;
        }

        /// <summary>Adds a grammar (or returns the one another thread added meanwhile), evicting the least recent.</summary>
        public TokenGrammar Add((int, string) key, TokenGrammar grammar)
        {
            if (TryGet(key, out var known)) return known;
            _index[key] = _order.AddFirst((key, grammar));
            while (_order.Count > GrammarsPerVocabulary)
            {
                _index.Remove(_order.Last!.Value.Item1);
                _order.RemoveLast();
            }
            return grammar;
        }
    }
}
