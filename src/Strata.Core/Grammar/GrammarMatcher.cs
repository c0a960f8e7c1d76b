namespace Strata.Grammar;

/// <summary>
/// Where one sequence stands in a <see cref="TokenGrammar"/>: which tokens may come next and what accepting one does.
/// Cheap to create (one per choice); its whole state is a reference into the shared automaton, so it survives
/// preemption untouched. Not thread-safe on its own (one sequence, one thread at a time).
/// </summary>
public sealed class GrammarMatcher
{
    private readonly TokenGrammar _grammar;
    private DfaState _state;
    private float[] _scratch = [];

    public GrammarMatcher(TokenGrammar grammar)
    {
        _grammar = grammar;
        _state = grammar.Dfa.Start;
    }

    public TokenGrammar Grammar => _grammar;

    /// <summary>The text so far is a complete match: an end-of-generation token is allowed.</summary>
    public bool CanEnd => !Ended && _state.CanEnd;

    /// <summary>Nothing can follow: the match is complete and the grammar allows no more text, or it has ended, or
    /// a token it does not allow was forced on it.</summary>
    public bool IsComplete => Ended || Rejected || _state.IsComplete;

    /// <summary>An end-of-generation token was accepted.</summary>
    public bool Ended { get; private set; }

    /// <summary><see cref="Accept"/> was given a token the grammar does not allow (the matcher stays where it was);
    /// generation should stop rather than continue off the grammar.</summary>
    public bool Rejected { get; private set; }

    private TokenMask Mask => _grammar.MaskOf(_state);

    /// <summary>Sets bit t of <paramref name="bits"/> (64 per word) for every allowed token t; the rest are cleared.</summary>
    public void FillMask(Span<ulong> bits)
    {
        if (Ended) { bits[..((_grammar.VocabSize + 63) / 64)].Clear(); return; }
        Mask.CopyTo(bits);
    }

    public bool IsAllowed(int token) => !Ended && Mask.Contains(token);

    /// <summary>Sets the logits of disallowed tokens to -∞ (the first <see cref="TokenGrammar.VocabSize"/> entries).</summary>
    public void ApplyTo(Span<float> logits)
    {
        if (logits.Length < _grammar.VocabSize) throw new ArgumentException($"logits cover {logits.Length} tokens; the grammar's vocabulary has {_grammar.VocabSize}");
        if (Ended) { logits[.._grammar.VocabSize].Fill(float.NegativeInfinity); return; }
        var mask = Mask;
        if (_scratch.Length < mask.Count) _scratch = new float[Math.Max(mask.Count, 64)];
        mask.ApplyTo(logits, _scratch);
    }

    /// <summary>Advances past a token; false (and no change) when the grammar does not allow it here.</summary>
    public bool Accept(int token)
    {
        if (Ended) return Reject();
        if (_grammar.IsEndToken(token))
        {
            if (!Mask.Contains(token)) return Reject();
            Ended = true;
            return true;
        }
        var next = _grammar.Advance(_state, token);
        if (next is null) return Reject();
        _state = next;
        return true;
    }

    private bool Reject()
    {
        Rejected = true;
        return false;
    }

    /// <summary>Whether the grammar allows the token here, decided from its bytes alone (not from the cached mask):
    /// what a mask must agree with.</summary>
    internal bool AllowsByBytes(int token)
    {
        if (Ended) return false;
        if (_grammar.IsEndToken(token)) return _state.CanEnd;
        return _grammar.Advance(_state, token) is not null;
    }

    /// <summary>Back to the start of the grammar (a new answer under the same grammar).</summary>
    public void Reset()
    {
        _state = _grammar.Dfa.Start;
        Ended = false;
        Rejected = false;
    }
}
