using System.Runtime.CompilerServices;
using Strata.Kv;
using Strata.Tensors;

namespace Strata.Models;

/// <summary>Which logits a batch entry wants back.</summary>
public enum LogitRows { None, Last, All }

/// <summary>One sequence's share of a batched forward pass: its next <see cref="Count"/> tokens.</summary>
public readonly record struct BatchEntry(KvSequence Sequence, int Count, LogitRows Logits = LogitRows.Last);

/// <summary>
/// The forward pass shared by every supported architecture, readable top to bottom. A batch of tokens (prefill) or a
/// single token (decode) goes in, the KV rows of those positions are written into the sequence's blocks, and logits
/// (or, for embedding models, the final hidden states) come out. Every buffer is allocated in the constructor;
/// <c>Forward</c> allocates nothing.
/// </summary>
public sealed class Transformer : IDisposable
{
    public ModelConfig Config { get; }
    public ModelWeights Weights { get; }
    /// <summary>Most tokens one <c>Forward</c> call takes; longer prompts go in chunks.</summary>
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
    private readonly KvSequence?[] _tokenSeq; // [MaxBatch] the sequence each token of the batch continues
    private readonly int[] _tokenPos;         // [MaxBatch] the position of each token in its sequence
    private readonly BatchEntry[] _single = new BatchEntry[1];

    public Transformer(ModelConfig config, ModelWeights weights, ComputePool? pool = null, int maxBatch = 256, int maxContext = 0, bool tiledAttention = true)
    {
        Config = config;
        Weights = weights;
        MaxBatch = maxBatch;
        _ownsPool = pool is null;
        _pool = pool ?? new ComputePool(Environment.ProcessorCount);
        _rope = new Rope(config, weights.RopeFactors);
        int context = maxContext > 0 ? maxContext : config.ContextLength;
        _attention = new Attention(config, _pool, context, maxBatch, tiledAttention);
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
        _tokenSeq = new KvSequence?[maxBatch];
        _tokenPos = new int[maxBatch];
    }

    public ComputePool Pool => _pool;

    /// <summary>When set, every forward call adds the time of its parts to it (see `strata bench --profile`).</summary>
    public ForwardProfile? Profile
    {
        get => _profile;
        set
        {
            _profile = value;
            _matmul.Profile = value;
        }
    }

    private ForwardProfile? _profile;
    private long _mark;

    /// <summary>Charges the time since the previous mark to <paramref name="phase"/> (when profiling).</summary>
    private void Mark(ForwardPhase phase)
    {
        if (_profile is null) return;
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        _profile.Add(phase, now - _mark);
        _mark = now;
    }

    /// <summary>
    /// Runs <paramref name="tokens"/> at positions [seq.Length, seq.Length + n) and appends their KV to
    /// <paramref name="seq"/>. Logits go to <paramref name="logits"/>: [n × Vocab] when <paramref name="allLogits"/>,
    /// else [Vocab] for the last token only.
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, KvSequence seq, Span<float> logits, bool allLogits = false)
    {
        _single[0] = new BatchEntry(seq, tokens.Length, allLogits ? LogitRows.All : LogitRows.Last);
        Forward(tokens, _single, logits);
        _single[0] = default;
    }

    /// <summary>
    /// One forward pass over several sequences at once: <paramref name="tokens"/> holds each entry's new tokens in
    /// entry order, each entry continues its own sequence at its own positions. Every matrix is read once for the
    /// whole batch; attention runs per token against that token's sequence. Logits go to <paramref name="logits"/>,
    /// entry after entry: [Count × Vocab] for <see cref="LogitRows.All"/>, [Vocab] for <see cref="LogitRows.Last"/>,
    /// nothing for <see cref="LogitRows.None"/>. When <paramref name="hidden"/> is given, the final normed hidden state
    /// of every token of the batch goes there too, [n × Dim] in token order (what embedding models pool).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Forward(ReadOnlySpan<int> tokens, ReadOnlySpan<BatchEntry> entries, Span<float> logits, Span<float> hidden = default)
    {
        var c = Config;
        int n = tokens.Length;
        if (n == 0 || n > MaxBatch) throw new ArgumentOutOfRangeException(nameof(tokens), $"batch of {n} tokens; 1 to {MaxBatch} allowed");
        int total = 0, logitRows = 0;
        foreach (var e in entries)
        {
            if (e.Count <= 0) throw new ArgumentException("every batch entry needs at least one token");
            total += e.Count;
            logitRows += e.Logits switch { LogitRows.All => e.Count, LogitRows.Last => 1, _ => 0 };
        }
        if (total != n) throw new ArgumentException($"entries cover {total} tokens, {n} given");
        if (logits.Length < logitRows * c.VocabSize) throw new ArgumentException("logits buffer too small");
        if (!hidden.IsEmpty && hidden.Length < n * c.Dim) throw new ArgumentException("hidden-state buffer too small");
        foreach (int t in tokens)
            if ((uint)t >= (uint)c.VocabSize) throw new StrataException($"token id {t} is outside the vocabulary (0 to {c.VocabSize - 1})");

        // Who each token belongs to and where it goes; blocks are reserved before anything is computed.
        for (int e = 0, i = 0; e < entries.Length; e++)
        {
            var seq = entries[e].Sequence;
            for (int p = e + 1; p < entries.Length; p++)
                if (ReferenceEquals(entries[p].Sequence, seq)) throw new ArgumentException("a sequence appears twice in one batch");
            seq.Reserve(seq.Length + entries[e].Count);
            for (int j = 0; j < entries[e].Count; j++, i++)
            {
                _tokenSeq[i] = seq;
                _tokenPos[i] = seq.Length + j;
            }
        }

        var x = _x.AsSpan(0, n * c.Dim);
        var xn = _xn.AsSpan(0, n * c.Dim);
        var q = _q.AsSpan(0, n * c.QDim);
        var k = _k.AsSpan(0, n * c.KvDim);
        var v = _v.AsSpan(0, n * c.KvDim);
        var gate = _gate.AsSpan(0, n * c.FeedForward);
        var up = _up.AsSpan(0, n * c.FeedForward);
        var cos = _cos.AsSpan(0, n * _rope.Pairs);
        var sin = _sin.AsSpan(0, n * _rope.Pairs);

        if (_profile is not null)
        {
            _profile.Call(n);
            _mark = System.Diagnostics.Stopwatch.GetTimestamp();
        }
        var embd = Weights.TokenEmbedding;
        for (int i = 0; i < n; i++)
        {
            Dequantize.Row(embd.Type, embd.Row(tokens[i]), x.Slice(i * c.Dim, c.Dim));
            _rope.Angles(_tokenPos[i], cos.Slice(i * _rope.Pairs, _rope.Pairs), sin.Slice(i * _rope.Pairs, _rope.Pairs));
        }

        for (int l = 0; l < c.Layers; l++)
        {
            var w = Weights.Layers[l];

            // Attention block: x += Wo · attention(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x)).
            Mark(ForwardPhase.Embed);
            RmsNormRows(x, w.AttnNorm, xn, n);
            Mark(ForwardPhase.Elementwise);
            _matmul.Run(w.Q, w.K, w.V, _xn, n, q, k, v);
            Mark(ForwardPhase.MatMulQkv);
            if (w.QBias is not null) AddBiasRows(q, w.QBias, n);
            if (w.KBias is not null) AddBiasRows(k, w.KBias, n);
            if (w.VBias is not null) AddBiasRows(v, w.VBias, n);
            Mark(ForwardPhase.Elementwise);
            for (int i = 0; i < n; i++)
            {
                var ci = cos.Slice(i * _rope.Pairs, _rope.Pairs);
                var si = sin.Slice(i * _rope.Pairs, _rope.Pairs);
                PrepareHeads(q.Slice(i * c.QDim, c.QDim), c.Heads, w.QNorm, ci, si);
                PrepareHeads(k.Slice(i * c.KvDim, c.KvDim), c.KvHeads, w.KNorm, ci, si);
                StoreKv(_tokenSeq[i]!, l, _tokenPos[i], k.Slice(i * c.KvDim, c.KvDim), v.Slice(i * c.KvDim, c.KvDim));
            }
            Mark(ForwardPhase.RopeAndKv);
            _attention.Run(_tokenSeq, _tokenPos, l, n, _q, _att);
            Mark(ForwardPhase.Attention);
            _matmul.Run(w.Output, _att, n, xn);
            Mark(ForwardPhase.MatMulOutput);
            Ops.Add(x, xn, x);

            // Feed-forward block (SwiGLU): x += Wdown · (silu(Wgate·norm(x)) ⊙ Wup·norm(x)).
            RmsNormRows(x, w.FfnNorm, xn, n);
            Mark(ForwardPhase.Elementwise);
            _matmul.Run(w.Gate, w.Up, null, _xn, n, gate, up, default);
            Mark(ForwardPhase.MatMulGateUp);
            Ops.SwiGlu(gate, up, gate);
            Mark(ForwardPhase.Elementwise);
            _matmul.Run(w.Down, _gate, n, xn);
            Mark(ForwardPhase.MatMulDown);
            Ops.Add(x, xn, x);
            Mark(ForwardPhase.Elementwise);
        }

        if (!hidden.IsEmpty) RmsNormRows(x, Weights.OutputNorm, hidden, n);

        // Logits only for the rows asked for (decode and the end of a prefill chunk need just the last one).
        int rows = 0;
        for (int e = 0, i = 0; e < entries.Length; i += entries[e].Count, e++)
        {
            int first = entries[e].Logits switch { LogitRows.All => i, LogitRows.Last => i + entries[e].Count - 1, _ => -1 };
            if (first < 0) continue;
            for (int r = first; r < i + entries[e].Count; r++, rows++)
                Ops.RmsNorm(x.Slice(r * c.Dim, c.Dim), Weights.OutputNorm, c.RmsEpsilon, xn.Slice(rows * c.Dim, c.Dim));
        }
        if (rows > 0) _matmul.Run(Weights.Output, _xn, rows, logits.Slice(0, rows * c.VocabSize));
        Mark(ForwardPhase.Logits);

        for (int e = 0, i = 0; e < entries.Length; i += entries[e].Count, e++)
            entries[e].Sequence.Append(tokens.Slice(i, entries[e].Count));
        Array.Clear(_tokenSeq, 0, n); // no sequence is kept alive by the buffers
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RmsNormRows(ReadOnlySpan<float> input, float[] weight, Span<float> output, int rows)
    {
        int d = Config.Dim;
        for (int i = 0; i < rows; i++)
            Ops.RmsNorm(input.Slice(i * d, d), weight, Config.RmsEpsilon, output.Slice(i * d, d));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddBiasRows(Span<float> rows, float[] bias, int n)
    {
        for (int i = 0; i < n; i++) Ops.Add(rows.Slice(i * bias.Length, bias.Length), bias, rows.Slice(i * bias.Length, bias.Length));
    }

    /// <summary>Per-head norm (qwen3's q/k norm) then rope, for every head of one token.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void StoreKv(KvSequence seq, int layer, int position, ReadOnlySpan<float> k, ReadOnlySpan<float> v)
    {
        if (seq.Layout.Type == KvType.Q8_0)
        {
            // ggml's reference Q8_0 rounding, so the cache holds the bytes llama.cpp's q8_0 cache would
            Q8Row.Quantize(k, seq.RowBytes(layer, 0, position));
            Q8Row.Quantize(v, seq.RowBytes(layer, 1, position));
            return;
        }
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
