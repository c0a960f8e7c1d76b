using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Strata.Kv;
using Strata.Tensors;

namespace Strata.Models;

/// <summary>
/// Causal grouped-query attention over paged KV caches: token i of the batch, at position p of its own sequence,
/// attends to positions [0, p] of that sequence; query head h reads KV head h / GroupSize. Tokens of different
/// sequences share one batch. K and V rows are f16 or Q8_0 blocks, as the sequence's layout says.
/// <para>
/// Tiled (flash-attention style): a work item is a tile of up to <see cref="MaxTile"/> consecutive tokens of one
/// sequence and one KV head, so up to MaxTile·GroupSize queries. Keys and values are read in chunks of
/// <see cref="Chunk"/> positions, widened to f32 once per chunk for all the tile's queries, and folded into each
/// query's running max, sum and weighted values (online softmax): no score matrix per head is kept. Chunks start at
/// multiples of <see cref="Chunk"/> in absolute positions, so a query's arithmetic does not depend on which tokens share
/// its tile: a sequence decoded alone or in a batch gets the same bits.
/// </para>
/// </summary>
internal sealed class Attention
{
    public const int Chunk = 8;
    public const int MaxTile = 8;
    // Multiply-adds below which attention runs on the calling thread (about what one pool wake-up costs).
    private const long SmallWork = 1 << 16;

    private readonly ModelConfig _c;
    private readonly ComputePool _pool;
    private readonly int _context;
    private readonly float _scale;
    private readonly bool _tiled;
    private readonly Action<int, int, int> _tiledBody, _referenceBody;
    private readonly ThreadScratch[] _scratch;

    // Arguments of the current call, read by the workers (set before, cleared after each Run).
    private KvSequence?[] _seqs = [];
    private int[] _positions = [];
    private int _layer, _n, _tiles;
    private float[] _qBuf = [], _outBuf = [];
    private readonly int[] _tileStart, _tileCount;

    private sealed class ThreadScratch(int hd, int queries, int context)
    {
        public readonly float[] KT = new float[hd * Chunk];        // [hd × Chunk] keys of a chunk, transposed
        public readonly float[] V = new float[Chunk * hd];         // [Chunk × hd] values of a chunk
        public readonly float[] Row = new float[hd];               // one widened row
        public readonly float[] Max = new float[queries];          // [queries] running max score
        public readonly float[] Sum = new float[queries];          // [queries] running Σ exp(score - max)
        public readonly float[] Acc = new float[queries * hd];     // [queries × hd] running Σ exp(score - max)·v
        public readonly float[] Scores = new float[context];       // reference path: one (token, head)'s weights
    }

    /// <param name="tiled">False runs the plain two-pass reference (tests compare the two).</param>
    public Attention(ModelConfig c, ComputePool pool, int context, int maxBatch, bool tiled = true)
    {
        _c = c;
        _pool = pool;
        _context = context;
        _scale = 1f / MathF.Sqrt(c.HeadDim);
        // The tiled path widens rows 8 values at a time.
        _tiled = tiled && c.HeadDim % 8 == 0 && Vector256.IsHardwareAccelerated;
        _scratch = new ThreadScratch[pool.Threads];
        for (int t = 0; t < pool.Threads; t++) _scratch[t] = new ThreadScratch(c.HeadDim, MaxTile * c.GroupSize, context);
        _tileStart = new int[maxBatch];
        _tileCount = new int[maxBatch];
        _tiledBody = RunTiles;
        _referenceBody = RunReferenceItems;
    }

    /// <summary>q: [n × QDim] (rope applied); output: [n × QDim]; token i continues seqs[i] at positions[i].</summary>
    public void Run(KvSequence?[] seqs, int[] positions, int layer, int n, float[] q, float[] output)
    {
        for (int i = 0; i < n; i++)
            if (positions[i] >= _context)
                throw new StrataException($"context is full: position {positions[i] + 1} exceeds the context of {_context}");
        _seqs = seqs;
        _positions = positions;
        _layer = layer;
        _n = n;
        _qBuf = q;
        _outBuf = output;
        if (_tiled)
        {
            // Tiles: runs of consecutive positions of one sequence, at most MaxTile tokens each.
            int tiles = 0;
            long work = 0; // query-key pairs, to keep small jobs off the pool
            for (int i = 0; i < n;)
            {
                int start = i++;
                while (i < n && i - start < MaxTile && ReferenceEquals(seqs[i], seqs[start]) && positions[i] == positions[i - 1] + 1) i++;
                _tileStart[tiles] = start;
                _tileCount[tiles++] = i - start;
                work += (long)(i - start) * (positions[i - 1] + 1);
            }
            _tiles = tiles;
            int items = _c.KvHeads * tiles;
            // Head-major items: each thread's contiguous share covers every tile (early tiles are cheap, late ones
            // dear), which balances the causal triangle. A few thousand multiply-adds cost less than waking the pool.
            if (work * _c.Heads * _c.HeadDim < SmallWork) _tiledBody(0, items, 0);
            else _pool.ParallelFor(items, _tiledBody);
        }
        else _pool.ParallelFor(n * _c.Heads, _referenceBody);
        _seqs = [];
    }

    private void RunTiles(int begin, int end, int thread)
    {
        for (int item = begin; item < end; item++) RunTile(item % _tiles, item / _tiles, thread);
    }

    private void RunTile(int tile, int kvHead, int thread)
    {
        int hd = _c.HeadDim, g = _c.GroupSize, start = _tileStart[tile], count = _tileCount[tile];
        var seq = _seqs[start]!;
        int first = _positions[start], last = first + count - 1;
        var s = _scratch[thread];
        int queries = count * g;
        s.Max.AsSpan(0, queries).Fill(float.NegativeInfinity);
        s.Sum.AsSpan(0, queries).Clear();
        s.Acc.AsSpan(0, queries * hd).Clear();
        var lane = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);

        for (int c0 = 0; c0 <= last; c0 += Chunk)
        {
            int cn = Math.Min(Chunk, last + 1 - c0);
            LoadChunk(seq, kvHead, c0, cn, s);
            for (int t = 0; t < count; t++)
            {
                int valid = Math.Min(cn, first + t - c0 + 1); // causal: positions ≤ the query's own
                if (valid <= 0) continue;
                var keep = Vector256.LessThan(lane, Vector256.Create(valid));
                int token = start + t;
                for (int j = 0; j < g; j++)
                {
                    int qi = t * g + j, h = kvHead * g + j;
                    var qRow = _qBuf.AsSpan(token * _c.QDim + h * hd, hd);
                    var scores = Scores(qRow, s.KT, hd) * Vector256.Create(_scale);
                    scores = Vector256.ConditionalSelect(keep.AsSingle(), scores, Vector256.Create(float.NegativeInfinity));
                    float chunkMax = HorizontalMax(scores);
                    float m = s.Max[qi], mNew = MathF.Max(m, chunkMax);
                    float correction = m == float.NegativeInfinity ? 0f : MathF.Exp(m - mNew);
                    var p = Vector256.Exp(scores - Vector256.Create(mNew));
                    p = Vector256.ConditionalSelect(keep.AsSingle(), p, default);
                    s.Sum[qi] = s.Sum[qi] * correction + Vector256.Sum(p);
                    s.Max[qi] = mNew;
                    Accumulate(s.Acc.AsSpan(qi * hd, hd), correction, p, s.V, valid, hd);
                }
            }
        }
        for (int t = 0; t < count; t++)
            for (int j = 0; j < g; j++)
            {
                int qi = t * g + j, h = kvHead * g + j;
                var acc = s.Acc.AsSpan(qi * hd, hd);
                var o = _outBuf.AsSpan((start + t) * _c.QDim + h * hd, hd);
                float inv = 1f / s.Sum[qi];
                for (int d = 0; d < hd; d++) o[d] = acc[d] * inv;
            }
    }

    /// <summary>Widens positions [c0, c0+cn) of one KV head: keys transposed into KT[d·Chunk + p], values into V[p·hd + d].</summary>
    private void LoadChunk(KvSequence seq, int kvHead, int c0, int cn, ThreadScratch s)
    {
        int hd = _c.HeadDim;
        var row = s.Row.AsSpan();
        for (int p = 0; p < Chunk; p++)
        {
            if (p < cn)
            {
                WidenRow(seq, 0, c0 + p, kvHead, row);
                for (int d = 0; d < hd; d++) s.KT[d * Chunk + p] = row[d];
                WidenRow(seq, 1, c0 + p, kvHead, s.V.AsSpan(p * hd, hd));
            }
            else
            {
                // Past the end: keys of 0 (masked anyway) and values of 0, so no stale NaN can leak in.
                for (int d = 0; d < hd; d++) s.KT[d * Chunk + p] = 0;
                s.V.AsSpan(p * hd, hd).Clear();
            }
        }
    }

    private void WidenRow(KvSequence seq, int kind, int position, int kvHead, Span<float> dst)
    {
        int hd = _c.HeadDim;
        var bytes = seq.RowBytes(_layer, kind, position);
        if (seq.Layout.Type == KvType.Q8_0)
        {
            int blockBytes = hd / KvTypeInfo.Q8Block * KvTypeInfo.Q8BlockBytes;
            Q8Row.Widen(bytes.Slice(kvHead * blockBytes, blockBytes), dst);
        }
        else HalfVector.Convert(MemoryMarshal.Cast<byte, Half>(bytes).Slice(kvHead * hd, hd), dst);
    }

    /// <summary>The query's dot with each of the chunk's keys, as one vector of Chunk scores.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Scores(ReadOnlySpan<float> q, float[] kT, int hd)
    {
        ref float k = ref MemoryMarshal.GetArrayDataReference(kT);
        ref float qr = ref MemoryMarshal.GetReference(q);
        Vector256<float> a0 = default, a1 = default;
        int d = 0;
        for (; d + 2 <= hd; d += 2)
        {
            a0 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref qr, d)), Vector256.LoadUnsafe(ref k, (nuint)(d * Chunk)), a0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref qr, d + 1)), Vector256.LoadUnsafe(ref k, (nuint)((d + 1) * Chunk)), a1);
        }
        for (; d < hd; d++) a0 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref qr, d)), Vector256.LoadUnsafe(ref k, (nuint)(d * Chunk)), a0);
        return a0 + a1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalMax(Vector256<float> v)
    {
        var m = Vector128.Max(v.GetLower(), v.GetUpper());
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(2, 3, 0, 1)));
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(1, 0, 3, 2)));
        return m.ToScalar();
    }

    /// <summary>acc = acc·correction + Σ_p weights[p]·V[p] over the chunk's valid positions.</summary>
    private static void Accumulate(Span<float> acc, float correction, Vector256<float> weights, float[] values, int valid, int hd)
    {
        ref float a = ref MemoryMarshal.GetReference(acc);
        ref float v = ref MemoryMarshal.GetArrayDataReference(values);
        var corr = Vector256.Create(correction);
        for (int d = 0; d < hd; d += 8)
        {
            var sum = Vector256.LoadUnsafe(ref a, (nuint)d) * corr;
            for (int p = 0; p < valid; p++)
                sum = Vector256.FusedMultiplyAdd(Vector256.Create(weights.GetElement(p)), Vector256.LoadUnsafe(ref v, (nuint)(p * hd + d)), sum);
            sum.StoreUnsafe(ref a, (nuint)d);
        }
    }

    private void RunReferenceItems(int begin, int end, int thread)
    {
        for (int item = begin; item < end; item++) RunReference(item / _c.Heads, item % _c.Heads, thread);
    }

    /// <summary>The plain two-pass form: every score of the (token, head), softmax, then the weighted values.</summary>
    private void RunReference(int i, int h, int thread)
    {
        var seq = _seqs[i]!;
        int hd = _c.HeadDim, kvHead = h / _c.GroupSize;
        int last = _positions[i];
        var q = _qBuf.AsSpan(i * _c.QDim + h * hd, hd);
        var s = _scratch[thread];
        var scores = s.Scores.AsSpan(0, last + 1);
        var row = s.Row.AsSpan();
        for (int p = 0; p <= last; p++)
        {
            WidenRow(seq, 0, p, kvHead, row);
            float dot = 0;
            for (int d = 0; d < hd; d++) dot += q[d] * row[d];
            scores[p] = dot * _scale;
        }
        Ops.Softmax(scores);
        var o = _outBuf.AsSpan(i * _c.QDim + h * hd, hd);
        o.Clear();
        for (int p = 0; p <= last; p++)
        {
            WidenRow(seq, 1, p, kvHead, row);
            for (int d = 0; d < hd; d++) o[d] += scores[p] * row[d];
        }
    }
}
