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
    public const long MaskCacheBytes = 64L << 20;
    private const int GrammarsPerVocabulary = 32;

    private static readonly ConditionalWeakTable<ITokenizer, GrammarCache> Caches = new();

    private readonly ITokenizer _tokenizer;
    private readonly Queue<DfaState> _masked = new();
    private readonly ulong[] _scratch;
    private long _maskBytes;

    private TokenGrammar(Grammar grammar, ITokenizer tokenizer, int vocabSize)
    {
        if (vocabSize <= 0) throw new ArgumentOutOfRangeException(nameof(vocabSize));
        Grammar = grammar;
        _tokenizer = tokenizer;
        VocabSize = vocabSize;
        Trie = VocabTrie.For(tokenizer, vocabSize);
        Dfa = new GrammarDfa(grammar.Automaton);
        Dfa.MaskFlushed += () => { _masked.Clear(); _maskBytes = 0; };
        _scratch = new ulong[(vocabSize + 63) / 64];
    }

    public Grammar Grammar { get; }
    /// <summary>The number of logits masks cover (the model's vocabulary, which may exceed the tokenizer's).</summary>
    public int VocabSize { get; }
    internal VocabTrie Trie { get; }
    internal GrammarDfa Dfa { get; }
    internal ITokenizer Tokenizer => _tokenizer;

    /// <summary>Compiles <paramref name="grammar"/> for the vocabulary (the trie is built once per tokenizer).</summary>
    public static TokenGrammar Compile(Grammar grammar, ITokenizer tokenizer, int vocabSize) => new(grammar, tokenizer, vocabSize);

    /// <summary>The compiled grammar of GBNF <paramref name="gbnf"/> for the vocabulary: the same object for the same
    /// text while it stays among the most recently used.</summary>
    /// <exception cref="GrammarException">the text is not a valid grammar.</exception>
    public static TokenGrammar Get(string gbnf, ITokenizer tokenizer, int vocabSize)
    {
        var cache = Caches.GetValue(tokenizer, _ => new GrammarCache());
        lock (cache)
            if (cache.TryGet((vocabSize, gbnf), out var known)) return known;
        var compiled = new TokenGrammar(Gbnf.Parse(gbnf), tokenizer, vocabSize);
        lock (cache) return cache.Add((vocabSize, gbnf), compiled);
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
    /// grammar needs ends the text rather than breaking it).
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
        var classOf = Dfa.Nfa.ClassOf;
        var path = new DfaState[t.MaxDepth + 1];
        path[0] = start;
        if (!start.IsComplete)
        {
            int n = t.NodeCount;
            for (int i = 0; i < n;)
            {
                var prev = path[depth[i] - 1];
                int c = classOf[label[i]];
                var next = prev.Next[c] ?? Dfa.Compute(prev, c);
                if (next.IsDead) { i = subtreeEnd[i]; continue; }
                path[depth[i]] = next;
                int k = tokenCount[i];
                if (k > 0)
                {
                    int first = t.TokenFirst[i];
                    for (int j = first; j < first + k; j++)
                    {
                        int id = t.Tokens[j];
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
        foreach (byte b in _tokenizer.TokenBytes(token, special: false))
        {
            s = Dfa.Step(s, b);
            if (s.IsDead) return null;
        }
        return s;
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
