using System.Runtime.InteropServices;
using Strata.Kv;
using Strata.Tensors;

namespace Strata.Models;

/// <summary>
/// Causal grouped-query attention over paged KV caches: token i of the batch, at position p of its own sequence,
/// attends to positions [0, p] of that sequence; query head h reads KV head h / GroupSize. Tokens of different
/// sequences share one batch. K and V rows are f16 or Q8_0 blocks, as the sequence's layout says. Work items are (token, head) pairs spread over the pool; each worker has its own score
/// buffer.
/// </summary>
internal sealed class Attention
{
    private readonly ModelConfig _c;
    private readonly ComputePool _pool;
    private readonly float[][] _scores; // [threads][context] attention weights of one (token, head)
    private readonly float[][] _acc;    // [threads][HeadDim] f32 accumulator of the weighted values
    private readonly float _scale;
    private readonly Action<int, int, int> _body;

    // Arguments of the current call, read by the workers (set before, cleared after each Run).
    private KvSequence?[] _seqs = [];
    private int[] _positions = [];
    private int _layer, _n;
    private float[] _qBuf = [], _outBuf = [];

    public Attention(ModelConfig c, ComputePool pool, int context)
    {
        _c = c;
        _pool = pool;
        _scale = 1f / MathF.Sqrt(c.HeadDim);
        _scores = new float[pool.Threads][];
        _acc = new float[pool.Threads][];
        for (int t = 0; t < pool.Threads; t++)
        {
            _scores[t] = new float[context];
            _acc[t] = new float[c.HeadDim];
        }
        _body = RunItems;
    }

    /// <summary>q: [n × QDim] (rope applied); output: [n × QDim]; token i continues seqs[i] at positions[i].</summary>
    public void Run(KvSequence?[] seqs, int[] positions, int layer, int n, float[] q, float[] output)
    {
        for (int i = 0; i < n; i++)
            if (positions[i] >= _scores[0].Length)
                throw new StrataException($"context is full: position {positions[i] + 1} exceeds the context of {_scores[0].Length}");
        _seqs = seqs;
        _positions = positions;
        _layer = layer;
        _n = n;
        _qBuf = q;
        _outBuf = output;
        _pool.ParallelFor(n * _c.Heads, _body);
        _seqs = [];
    }

    private void RunItems(int begin, int end, int thread)
    {
        for (int item = begin; item < end; item++) RunOne(item / _c.Heads, item % _c.Heads, thread);
    }

    private void RunOne(int i, int h, int thread)
    {
        var seq = _seqs[i]!;
        int hd = _c.HeadDim;
        int kvOffset = h / _c.GroupSize * hd;
        int last = _positions[i]; // causal: attends to positions 0..last
        var q = _qBuf.AsSpan(i * _c.QDim + h * hd, hd);
        var scores = _scores[thread].AsSpan(0, last + 1);

        var acc = _acc[thread].AsSpan();
        acc.Clear();
        if (seq.Layout.Type == KvType.Q8_0)
        {
            // a head's slice is HeadDim / 32 whole Q8_0 blocks (the model load checks HeadDim % 32 == 0)
            int bytes = hd / KvTypeInfo.Q8Block * KvTypeInfo.Q8BlockBytes, byteOffset = h / _c.GroupSize * bytes;
            for (int p = 0; p <= last; p++)
                scores[p] = Q8Row.Dot(q, seq.RowBytes(_layer, 0, p).Slice(byteOffset, bytes)) * _scale;
            Ops.Softmax(scores);
            for (int p = 0; p <= last; p++)
                Q8Row.Axpy(scores[p], seq.RowBytes(_layer, 1, p).Slice(byteOffset, bytes), acc);
        }
        else
        {
            for (int p = 0; p <= last; p++)
                scores[p] = HalfVector.Dot(q, MemoryMarshal.Cast<byte, Half>(seq.RowBytes(_layer, 0, p)).Slice(kvOffset, hd)) * _scale;
            Ops.Softmax(scores);
            for (int p = 0; p <= last; p++)
                HalfVector.Axpy(scores[p], MemoryMarshal.Cast<byte, Half>(seq.RowBytes(_layer, 1, p)).Slice(kvOffset, hd), acc);
        }
        acc.CopyTo(_outBuf.AsSpan(i * _c.QDim + h * hd, hd));
    }
}
