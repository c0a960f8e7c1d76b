using System.Numerics;

namespace Strata.Grammar;

/// <summary>
/// The tokens a grammar state allows, stored the cheaper way: a sorted id list when few are allowed (most states:
/// inside a literal only a handful of tokens fit), a bitmap otherwise. Immutable once built.
/// </summary>
internal sealed class TokenMask
{
    private readonly int[]? _list;
    private readonly ulong[]? _bits;

    private TokenMask(int vocabSize, int count, int[]? list, ulong[]? bits)
    {
        VocabSize = vocabSize;
        Count = count;
        _list = list;
        _bits = bits;
    }

    public int VocabSize { get; }
    public int Count { get; }
    public long Bytes => _list is not null ? _list.Length * 4L : _bits!.Length * 8L;

    /// <summary>Keeps the bits of <paramref name="bits"/> (which the caller may reuse afterwards).</summary>
    public static TokenMask From(ReadOnlySpan<ulong> bits, int count, int vocabSize)
    {
        if (count * 32L >= vocabSize) return new TokenMask(vocabSize, count, null, bits.ToArray());
        var list = new int[count];
        int k = 0;
        for (int w = 0; w < bits.Length; w++)
            for (ulong m = bits[w]; m != 0; m &= m - 1)
                list[k++] = w * 64 + BitOperations.TrailingZeroCount(m);
        return new TokenMask(vocabSize, count, list, null);
    }

    public bool Contains(int token)
    {
        if ((uint)token >= (uint)VocabSize) return false;
        if (_bits is not null) return (_bits[token >> 6] & (1UL << token)) != 0;
        return Array.BinarySearch(_list!, token) >= 0;
    }

    public void CopyTo(Span<ulong> bits)
    {
        int words = (VocabSize + 63) / 64;
        if (bits.Length < words) throw new ArgumentException($"the mask needs {words} words for {VocabSize} tokens", nameof(bits));
        if (_bits is not null) { _bits.CopyTo(bits); return; }
        bits[..words].Clear();
        foreach (int t in _list!) bits[t >> 6] |= 1UL << t;
    }

    /// <summary>Sets the logit of every token not allowed to -∞ (<paramref name="scratch"/> holds at least
    /// <see cref="Count"/> floats when the mask is a list).</summary>
    public void ApplyTo(Span<float> logits, Span<float> scratch)
    {
        if (_list is not null)
        {
            // Few allowed: keep their logits, clear everything, put them back.
            for (int i = 0; i < _list.Length; i++) scratch[i] = logits[_list[i]];
            logits[..VocabSize].Fill(float.NegativeInfinity);
            for (int i = 0; i < _list.Length; i++) logits[_list[i]] = scratch[i];
            return;
        }
        var bits = _bits!;
        for (int w = 0; w < bits.Length; w++)
        {
            ulong m = bits[w];
            if (m == ulong.MaxValue) continue;
            int start = w * 64, len = Math.Min(64, VocabSize - start);
            if (m == 0) { logits.Slice(start, len).Fill(float.NegativeInfinity); continue; }
            ulong off = ~m;
            if (len < 64) off &= (1UL << len) - 1;
            for (; off != 0; off &= off - 1) logits[start + BitOperations.TrailingZeroCount(off)] = float.NegativeInfinity;
        }
    }
}
