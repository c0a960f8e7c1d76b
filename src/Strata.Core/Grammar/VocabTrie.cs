using System.Runtime.CompilerServices;
using Strata.Tokenizers;

namespace Strata.Grammar;

/// <summary>
/// The vocabulary's token pieces (the bytes each token adds to the text) as a byte trie, laid out in depth-first
/// order: node i's subtree is [i, SubtreeEnd[i]), so a walk that finds a node's prefix impossible skips the whole
/// subtree with one assignment. Built once per tokenizer (and set of control tokens read as text) and shared by every
/// grammar. Control tokens (but those given as text), unknown and unused tokens (no piece) are not in it; end-of-generation tokens are kept apart (<see cref="EndTokens"/>): a grammar allows
/// them only where it can end.
/// </summary>
internal sealed class VocabTrie
{
    private static readonly ConditionalWeakTable<ITokenizer, Dictionary<(int, string), VocabTrie>> Cache = new();

    private VocabTrie(int vocabSize, byte[] label, int[] depth, int[] subtreeEnd, int[] tokenFirst, int[] tokenCount, int[] tokens, int[] endTokens,
        ulong[] below)
    {
        Below = below;
        VocabSize = vocabSize;
        Label = label;
        Depth = depth;
        SubtreeEnd = subtreeEnd;
        TokenFirst = tokenFirst;
        TokenCount = tokenCount;
        Tokens = tokens;
        EndTokens = endTokens;
        MaxDepth = depth.Length == 0 ? 0 : depth.Max();
        // Sorted token order is the trie's depth-first order, so a subtree's tokens are one run of Tokens.
        TokensBefore = new int[label.Length + 1];
        for (int i = 0; i < label.Length; i++) TokensBefore[i + 1] = TokensBefore[i] + tokenCount[i];
        _inTrie = new ulong[(vocabSize + 63) / 64];
        foreach (int t in tokens) _inTrie[t >> 6] |= 1UL << t;
    }

    private readonly ulong[] _inTrie;

    public int VocabSize { get; }
    /// <summary>The byte on the edge into each node (the root is implicit, not a node).</summary>
    public byte[] Label { get; }
    /// <summary>Each node's depth, 1 for children of the root.</summary>
    public int[] Depth { get; }
    public int[] SubtreeEnd { get; }
    /// <summary>Tokens whose piece ends at the node: Tokens[TokenFirst[i] .. + TokenCount[i]].</summary>
    public int[] TokenFirst { get; }
    public int[] TokenCount { get; }
    /// <summary>Token ids sorted by their pieces.</summary>
    public int[] Tokens { get; }
    public int[] EndTokens { get; }
    /// <summary>Per node, two words: the ASCII bytes (bit b for b &lt; 127) on edges below the node, and bit 127 for
    /// any byte from 0x7F up. A grammar state that stays itself on every one of them allows the whole subtree at once.</summary>
    public ulong[] Below { get; }
    public int MaxDepth { get; }
    /// <summary>Tokens ending at nodes before node i: the tokens of node i's subtree are Tokens[TokensBefore[i] .. TokensBefore[SubtreeEnd[i]]).</summary>
    public int[] TokensBefore { get; }
    public int NodeCount => Label.Length;

    /// <summary>
    /// The trie of a tokenizer's vocabulary for a model with <paramref name="vocabSize"/> logits (cached).
    /// <paramref name="controlsAsText"/>: control tokens that are text here (a chat format's call markers, such as
    /// Mistral's <c>[TOOL_CALLS]</c>), in the trie with the text they stand for, so a grammar's literal can be them.
    /// </summary>
    public static VocabTrie For(ITokenizer tokenizer, int vocabSize, IReadOnlySet<int>? controlsAsText = null)
    {
        var perKey = Cache.GetValue(tokenizer, _ => new Dictionary<(int, string), VocabTrie>());
        var key = (vocabSize, Key(controlsAsText));
        lock (perKey)
        {
            if (!perKey.TryGetValue(key, out var trie))
            {
                trie = Build(tokenizer, vocabSize, controlsAsText);
                perKey[key] = trie;
            }
            return trie;
        }
    }

    /// <summary>A set of token ids as a cache key: the ids in order.</summary>
    internal static string Key(IReadOnlySet<int>? ids) => ids is null || ids.Count == 0 ? "" : string.Join(',', ids.Order());

    public static VocabTrie Build(ITokenizer tokenizer, int vocabSize, IReadOnlySet<int>? controlsAsText = null)
    {
        var vocab = tokenizer.Vocabulary;
        int n = Math.Min(vocabSize, vocab.Count);
        var ends = new List<int>();
        var pieces = new List<(int Id, byte[] Bytes)>(n);
        for (int id = 0; id < n; id++)
        {
            if (vocab.IsEndOfGeneration(id)) { ends.Add(id); continue; }
            var bytes = tokenizer.TokenBytes(id, special: controlsAsText?.Contains(id) == true);
            if (bytes.Length > 0) pieces.Add((id, bytes));
        }
        pieces.Sort((a, b) =>
        {
            int c = a.Bytes.AsSpan().SequenceCompareTo(b.Bytes);
            return c != 0 ? c : a.Id.CompareTo(b.Id);
        });

        var label = new List<byte>();
        var depth = new List<int>();
        var subtreeEnd = new List<int>();
        var tokenFirst = new List<int>();
        var tokenCount = new List<int>();
        var path = new List<int>();   // path[d - 1]: the open node at depth d
        var parent = new List<int>();
        byte[] prev = [];
        for (int t = 0; t < pieces.Count; t++)
        {
            var bytes = pieces[t].Bytes;
            int lcp = 0;
            while (lcp < prev.Length && lcp < bytes.Length && prev[lcp] == bytes[lcp]) lcp++;
            // Close the nodes of the previous piece below the common prefix.
            for (int d = path.Count; d > lcp; d--)
            {
                subtreeEnd[path[d - 1]] = label.Count;
                path.RemoveAt(d - 1);
            }
            for (int d = lcp; d < bytes.Length; d++)
            {
                parent.Add(d == 0 ? -1 : path[d - 1]);
                path.Add(label.Count);
                label.Add(bytes[d]);
                depth.Add(d + 1);
                subtreeEnd.Add(-1);
                tokenFirst.Add(0);
                tokenCount.Add(0);
            }
            int node = path[bytes.Length - 1];
            if (tokenCount[node]++ == 0) tokenFirst[node] = t;
            prev = bytes;
        }
        foreach (int open in path) subtreeEnd[open] = label.Count;
        // Children come after their parent, so one backward pass gathers every subtree's bytes.
        var below = new ulong[label.Count * 2];
        for (int i = label.Count - 1; i >= 0; i--)
        {
            int p = parent[i];
            if (p < 0) continue;
            int b = Math.Min((int)label[i], 127);
            below[2 * p + (b >> 6)] |= 1UL << b;
            below[2 * p] |= below[2 * i];
            below[2 * p + 1] |= below[2 * i + 1];
        }
        return new VocabTrie(vocabSize, label.ToArray(), depth.ToArray(), subtreeEnd.ToArray(), tokenFirst.ToArray(), tokenCount.ToArray(),
            pieces.Select(p => p.Id).ToArray(), ends.ToArray(), below);
    }

    /// <summary>Whether the token is in the trie (it has a piece and does not end generation).</summary>
    public bool HasPiece(int token)
    {
        if ((uint)token >= (uint)VocabSize) return false;
        return (_inTrie[token >> 6] & (1UL << token)) != 0;
    }
}
