using System.Runtime.CompilerServices;
using Strata.Grammar;

namespace Strata.Sampling;

/// <summary>
/// Picks the next token from logits: penalties, then the grammar's mask (tokens it does not allow get -∞, as llama.cpp
/// applies its grammar before the other samplers), then top-k, top-p and min-p (on temperature-1 probabilities), then
/// temperature and a seeded random draw — llama.cpp's default order. The chosen token is fed to the grammar. Buffers
/// are sized to the vocabulary once; sampling allocates nothing.
/// </summary>
public sealed class Sampler
{
    private readonly SamplerOptions _o;
    private readonly int _vocab;
    private readonly float[] _logits;   // [vocab] logits after penalties
    private readonly int[] _ids;        // [vocab] candidate ids, best first after selection
    private readonly float[] _probs;    // [vocab] candidate probabilities, parallel to _ids
    private readonly Dictionary<int, int> _counts = new();
    private ulong _rng;

    /// <param name="grammar">Constrains every choice (greedy too) to what the grammar allows; null: unconstrained.</param>
    public Sampler(SamplerOptions options, int vocabSize, GrammarMatcher? grammar = null)
    {
        options.Validate();
        if (grammar is not null && grammar.Grammar.VocabSize != vocabSize)
            throw new ArgumentException($"the grammar was compiled for {grammar.Grammar.VocabSize} tokens, the sampler has {vocabSize}");
        Grammar = grammar;
        _o = options;
        _vocab = vocabSize;
        _logits = new float[vocabSize];
        _ids = new int[vocabSize];
        _probs = new float[vocabSize];
        _rng = options.Seed ^ 0x9E3779B97F4A7C15UL;
    }

    public SamplerOptions Options => _o;

    /// <summary>The grammar constraining this sampler's choices, if any; it has seen every token chosen.</summary>
    public GrammarMatcher? Grammar { get; }

    /// <summary>Chooses a token; <paramref name="history"/> is every token so far (prompt and output), for penalties.</summary>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> history)
    {
        int token = Choose(logits, history);
        Grammar?.Accept(token);
        return token;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Choose(ReadOnlySpan<float> logits, ReadOnlySpan<int> history)
    {
        if (logits.Length < _vocab) throw new ArgumentException("logits shorter than the vocabulary");
        var l = _logits.AsSpan(0, _vocab);
        logits[.._vocab].CopyTo(l);
        ApplyPenalties(l, history);
        Grammar?.ApplyTo(l);
        if (_o.IsGreedy) return ArgMax(l);

        // Candidates sorted by logit, best first; top-k limits how many are sorted at all.
        int k = _o.TopK > 0 ? Math.Min(_o.TopK, _vocab) : _vocab;
        int count = SelectTop(l, k);

        // Probabilities at temperature 1 decide top-p and min-p, as in llama.cpp.
        Softmax(count, 1f);
        count = CutTopP(count);
        count = CutMinP(count);

        Softmax(count, _o.Temperature);
        double r = NextDouble();
        double acc = 0;
        for (int i = 0; i < count; i++)
        {
            acc += _probs[i];
            if (r < acc) return _ids[i];
        }
        return _ids[count - 1];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ApplyPenalties(Span<float> l, ReadOnlySpan<int> history)
    {
        if (_o.RepeatPenalty == 1f && _o.PresencePenalty == 0f && _o.FrequencyPenalty == 0f) return;
        int window = _o.PenaltyLastN < 0 ? history.Length : Math.Min(_o.PenaltyLastN, history.Length);
        if (window == 0) return;
        _counts.Clear();
        foreach (int t in history[^window..])
            if ((uint)t < (uint)_vocab) _counts[t] = _counts.GetValueOrDefault(t) + 1;
        foreach (var (t, n) in _counts)
        {
            float x = l[t];
            x = x <= 0 ? x * _o.RepeatPenalty : x / _o.RepeatPenalty;
            l[t] = x - n * _o.FrequencyPenalty - _o.PresencePenalty;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int ArgMax(ReadOnlySpan<float> l)
    {
        int best = 0;
        for (int i = 1; i < l.Length; i++)
            if (l[i] > l[best]) best = i;
        return best;
    }

    /// <summary>Puts the k highest logits, sorted descending (ties by lower id), in _ids/_probs[0..k).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int SelectTop(ReadOnlySpan<float> l, int k)
    {
        // A min-heap of the best k seen so far: O(V log k).
        int size = 0;
        for (int id = 0; id < l.Length; id++)
        {
            float v = l[id];
            if (float.IsNaN(v) || v == float.NegativeInfinity) continue;
            if (size < k)
            {
                _ids[size] = id;
                _probs[size] = v;
                SiftUp(size++);
            }
            else if (Better(v, id, _probs[0], _ids[0]))
            {
                _ids[0] = id;
                _probs[0] = v;
                SiftDown(0, size);
            }
        }
        if (size == 0)
        {
            _ids[0] = 0;
            _probs[0] = 0;
            return 1;
        }
        // Heap-sort: repeatedly move the worst to the end, leaving best first.
        for (int end = size - 1; end > 0; end--)
        {
            (_ids[0], _ids[end]) = (_ids[end], _ids[0]);
            (_probs[0], _probs[end]) = (_probs[end], _probs[0]);
            SiftDown(0, end);
        }
        return size;
    }

    private static bool Better(float a, int ida, float b, int idb) => a > b || (a == b && ida < idb);

    private void SiftUp(int i)
    {
        while (i > 0)
        {
            int parent = (i - 1) / 2;
            if (!Better(_probs[parent], _ids[parent], _probs[i], _ids[i])) break;
            (_ids[parent], _ids[i]) = (_ids[i], _ids[parent]);
            (_probs[parent], _probs[i]) = (_probs[i], _probs[parent]);
            i = parent;
        }
    }

    private void SiftDown(int i, int size)
    {
        while (true)
        {
            int l = 2 * i + 1, r = l + 1, worst = i;
            if (l < size && Better(_probs[worst], _ids[worst], _probs[l], _ids[l])) worst = l;
            if (r < size && Better(_probs[worst], _ids[worst], _probs[r], _ids[r])) worst = r;
            if (worst == i) return;
            (_ids[worst], _ids[i]) = (_ids[i], _ids[worst]);
            (_probs[worst], _probs[i]) = (_probs[i], _probs[worst]);
            i = worst;
        }
    }

    /// <summary>Turns the logits of the sorted candidates into probabilities at a temperature (in place, from the logits kept alongside).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Softmax(int count, float temperature)
    {
        // _probs holds logits on the first call; later calls recompute from the logits array by id.
        float max = _logits[_ids[0]] / temperature;
        double sum = 0;
        for (int i = 0; i < count; i++)
        {
            double e = Math.Exp(_logits[_ids[i]] / temperature - max);
            _probs[i] = (float)e;
            sum += e;
        }
        for (int i = 0; i < count; i++) _probs[i] = (float)(_probs[i] / sum);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int CutTopP(int count)
    {
        if (_o.TopP >= 1f) return count;
        double acc = 0;
        for (int i = 0; i < count; i++)
        {
            acc += _probs[i];
            if (acc >= _o.TopP) return i + 1;
        }
        return count;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int CutMinP(int count)
    {
        if (_o.MinP <= 0f) return count;
        float threshold = _probs[0] * _o.MinP;
        int keep = 1;
        while (keep < count && _probs[keep] >= threshold) keep++;
        return keep;
    }

    /// <summary>Uniform in [0, 1) from splitmix64: small, fast, and stable across .NET versions (unlike System.Random's algorithms).</summary>
    private double NextDouble()
    {
        ulong z = _rng += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }
}
