using Strata.Models;

namespace Strata.Engine;

/// <summary>
/// One sequence's embedding, pooled chunk by chunk from the final normed hidden states as llama.cpp pools them: the
/// mean of every position, the first position's (CLS) or the last position's. Allocates its vector once.
/// </summary>
public sealed class Pooling
{
    private readonly PoolingType _type;
    private readonly float[] _acc;
    private int _positions;

    public Pooling(PoolingType type, int dim)
    {
        if (type == PoolingType.None) throw new StrataException("this model has no pooling type: it is not an embedding model");
        _type = type;
        _acc = new float[dim];
    }

    /// <summary>Starts over (a preempted sequence recomputes its prompt from the beginning).</summary>
    public void Reset()
    {
        Array.Clear(_acc);
        _positions = 0;
    }

    /// <summary>Adds the hidden states of the sequence's next positions, [count × dim], in position order.</summary>
    public void Add(ReadOnlySpan<float> rows, int count)
    {
        int d = _acc.Length;
        switch (_type)
        {
            case PoolingType.Mean:
                for (int i = 0; i < count; i++) Tensors.Ops.Add(_acc, rows.Slice(i * d, d), _acc);
                break;
            case PoolingType.Cls:
                if (_positions == 0) rows[..d].CopyTo(_acc);
                break;
            case PoolingType.Last:
                rows.Slice((count - 1) * d, d).CopyTo(_acc);
                break;
        }
        _positions += count;
    }

    /// <summary>The pooled vector, cut to its first <paramref name="dimensions"/> components when given and
    /// L2-normalised when asked (llama.cpp's default for embeddings).</summary>
    public float[] Finish(bool normalize, int dimensions = 0)
    {
        var v = _acc.AsSpan(0, dimensions > 0 ? Math.Min(dimensions, _acc.Length) : _acc.Length).ToArray();
        if (_type == PoolingType.Mean && _positions > 0)
        {
            float inv = 1f / _positions;
            for (int i = 0; i < v.Length; i++) v[i] *= inv;
        }
        if (normalize) Normalize(v);
        return v;
    }

    /// <summary>Scales a vector to unit Euclidean length (a zero vector stays zero).</summary>
    public static void Normalize(Span<float> v)
    {
        double sum = 0;
        foreach (float x in v) sum += (double)x * x;
        if (sum <= 0) return;
        float scale = (float)(1 / Math.Sqrt(sum));
        for (int i = 0; i < v.Length; i++) v[i] *= scale;
    }
}
