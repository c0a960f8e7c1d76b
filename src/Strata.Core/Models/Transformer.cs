using Strata.Kv;
using Strata.Tensors;

namespace Strata.Models;

/// <summary>
/// The forward pass shared by every supported architecture, readable top to bottom. A batch of tokens (prefill) or a
/// single token (decode) goes in, the KV rows of those positions are written into the sequence's blocks, and logits
/// come out. Every buffer is allocated in the constructor; <see cref="Forward"/> allocates nothing.
/// </summary>
public sealed class Transformer : IDisposable
{
    public ModelConfig Config { get; }
    public ModelWeights Weights { get; }
    /// <summary>Most tokens one <see cref="Forward"/> call takes; longer prompts go in chunks.</summary>
    public int MaxBatch { get; }

    private readonly ComputePool _pool;
    private readonly bool _ownsPool;
    private readonly Rope _rope;
    private readonly Attention _attention;
    private readonly MatMul _matmul;

    // Activations, row-major, one row per token of the batch.
    private readonly float[] _x;      // [MaxBatch × Dim] residual stream
    private readonly float[] _xn;     // [MaxBatch × Dim] normalized input of the current block
    private readonly float[] _q;      // [MaxBatch × QDim] queries
    private readonly float[] _k;      // [MaxBatch × KvDim] keys of the new positions
    private readonly float[] _v;      // [MaxBatch × KvDim] values of the new positions
    private readonly float[] _att;    // [MaxBatch × QDim] attention output, heads concatenated
    private readonly float[] _gate;   // [MaxBatch × FeedForward] gate projection, then silu(gate)·up
    private readonly float[] _up;     // [MaxBatch × FeedForward] up projection
    private readonly float[] _cos;    // [MaxBatch × RopePairs] rope cosines per token
    private readonly float[] _sin;    // [MaxBatch × RopePairs] rope sines per token

    public Transformer(ModelConfig config, ModelWeights weights, ComputePool? pool = null, int maxBatch = 256, int maxContext = 0)
    {
        Config = config;
        Weights = weights;
        MaxBatch = maxBatch;
        _ownsPool = pool is null;
        _pool = pool ?? new ComputePool(Environment.ProcessorCount);
        _rope = new Rope(config, weights.RopeFactors);
        int context = maxContext > 0 ? maxContext : config.ContextLength;
        _attention = new Attention(config, _pool, context);
        _matmul = new MatMul(_pool, maxBatch, Math.Max(Math.Max(config.Dim, config.QDim), config.FeedForward));

        var c = config;
        _x = new float[maxBatch * c.Dim];
        _xn = new float[maxBatch * c.Dim];
        _q = new float[maxBatch * c.QDim];
        _k = new float[maxBatch * c.KvDim];
        _v = new float[maxBatch * c.KvDim];
        _att = new float[maxBatch * c.QDim];
        _gate = new float[maxBatch * c.FeedForward];
        _up = new float[maxBatch * c.FeedForward];
        _cos = new float[maxBatch * _rope.Pairs];
        _sin = new float[maxBatch * _rope.Pairs];
    }

    public ComputePool Pool => _pool;

    /// <summary>
    /// Runs <paramref name="tokens"/> at positions [seq.Length, seq.Length + n) and appends their KV to
    /// <paramref name="seq"/>. Logits go to <paramref name="logits"/>: [n × Vocab] when <paramref name="allLogits"/>,
    /// else [Vocab] for the last token only.
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, KvSequence seq, Span<float> logits, bool allLogits = false)
    {
        var c = Config;
        int n = tokens.Length;
        if (n == 0 || n > MaxBatch) throw new ArgumentOutOfRangeException(nameof(tokens), $"batch of {n} tokens; 1 to {MaxBatch} allowed");
        int start = seq.Length;
        if (logits.Length < (allLogits ? n : 1) * c.VocabSize) throw new ArgumentException("logits buffer too small");
        foreach (int t in tokens)
            if ((uint)t >= (uint)c.VocabSize) throw new StrataException($"token id {t} is outside the vocabulary (0 to {c.VocabSize - 1})");
        seq.Reserve(start + n);

        var x = _x.AsSpan(0, n * c.Dim);
        var xn = _xn.AsSpan(0, n * c.Dim);
        var q = _q.AsSpan(0, n * c.QDim);
        var k = _k.AsSpan(0, n * c.KvDim);
        var v = _v.AsSpan(0, n * c.KvDim);
        var att = _att.AsSpan(0, n * c.QDim);
        var gate = _gate.AsSpan(0, n * c.FeedForward);
        var up = _up.AsSpan(0, n * c.FeedForward);
        var cos = _cos.AsSpan(0, n * _rope.Pairs);
        var sin = _sin.AsSpan(0, n * _rope.Pairs);

        var embd = Weights.TokenEmbedding;
        for (int i = 0; i < n; i++)
        {
            Dequantize.Row(embd.Type, embd.Row(tokens[i]), x.Slice(i * c.Dim, c.Dim));
            _rope.Angles(start + i, cos.Slice(i * _rope.Pairs, _rope.Pairs), sin.Slice(i * _rope.Pairs, _rope.Pairs));
        }

        for (int l = 0; l < c.Layers; l++)
        {
            var w = Weights.Layers[l];

            // Attention block: x += Wo · attention(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x)).
            RmsNormRows(x, w.AttnNorm, xn, n);
            _matmul.Run(w.Q, _xn, n, q);
            _matmul.Run(w.K, _xn, n, k, sameInput: true);
            _matmul.Run(w.V, _xn, n, v, sameInput: true);
            if (w.QBias is not null) AddBiasRows(q, w.QBias, n);
            if (w.KBias is not null) AddBiasRows(k, w.KBias, n);
            if (w.VBias is not null) AddBiasRows(v, w.VBias, n);
            for (int i = 0; i < n; i++)
            {
                var ci = cos.Slice(i * _rope.Pairs, _rope.Pairs);
                var si = sin.Slice(i * _rope.Pairs, _rope.Pairs);
                PrepareHeads(q.Slice(i * c.QDim, c.QDim), c.Heads, w.QNorm, ci, si);
                PrepareHeads(k.Slice(i * c.KvDim, c.KvDim), c.KvHeads, w.KNorm, ci, si);
                StoreKv(seq, l, start + i, k.Slice(i * c.KvDim, c.KvDim), v.Slice(i * c.KvDim, c.KvDim));
            }
            _attention.Run(seq, l, start, n, _q, _att);
            _matmul.Run(w.Output, _att, n, xn);
            Ops.Add(x, xn, x);

            // Feed-forward block (SwiGLU): x += Wdown · (silu(Wgate·norm(x)) ⊙ Wup·norm(x)).
            RmsNormRows(x, w.FfnNorm, xn, n);
            _matmul.Run(w.Gate, _xn, n, gate);
            _matmul.Run(w.Up, _xn, n, up, sameInput: true);
            Ops.SwiGlu(gate, up, gate);
            _matmul.Run(w.Down, _gate, n, xn);
            Ops.Add(x, xn, x);
        }

        // Logits for every position, or only the last one (decode and the end of prefill need just that).
        int first = allLogits ? 0 : n - 1;
        int rows = n - first;
        RmsNormRows(x.Slice(first * c.Dim), Weights.OutputNorm, xn, rows);
        _matmul.Run(Weights.Output, _xn, rows, logits.Slice(0, rows * c.VocabSize));
        seq.Append(tokens);
    }

    private void RmsNormRows(ReadOnlySpan<float> input, float[] weight, Span<float> output, int rows)
    {
        int d = Config.Dim;
        for (int i = 0; i < rows; i++)
            Ops.RmsNorm(input.Slice(i * d, d), weight, Config.RmsEpsilon, output.Slice(i * d, d));
    }

    private static void AddBiasRows(Span<float> rows, float[] bias, int n)
    {
        for (int i = 0; i < n; i++) Ops.Add(rows.Slice(i * bias.Length, bias.Length), bias, rows.Slice(i * bias.Length, bias.Length));
    }

    /// <summary>Per-head norm (qwen3's q/k norm) then rope, for every head of one token.</summary>
    private void PrepareHeads(Span<float> heads, int count, float[]? norm, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int hd = Config.HeadDim;
        for (int h = 0; h < count; h++)
        {
            var head = heads.Slice(h * hd, hd);
            if (norm is not null) Ops.RmsNorm(head, norm, Config.RmsEpsilon, head);
            _rope.Apply(head, cos, sin);
        }
    }

    private static void StoreKv(KvSequence seq, int layer, int position, ReadOnlySpan<float> k, ReadOnlySpan<float> v)
    {
        var kRow = seq.Row(layer, 0, position);
        var vRow = seq.Row(layer, 1, position);
        for (int j = 0; j < k.Length; j++)
        {
            kRow[j] = (Half)k[j];
            vRow[j] = (Half)v[j];
        }
    }

    public void Dispose()
    {
        if (_ownsPool) _pool.Dispose();
    }
}
