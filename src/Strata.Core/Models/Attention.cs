using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
/// query's running max, sum and weighted values (online softmax): no score matrix per head is kept. Chunks are long
/// enough that the softmax bookkeeping (a max, an exp for the correction) is paid once per 32 positions, and rows stay
/// untransposed: eight positions' dot products run as independent chains and are folded by horizontal adds. Chunks start at
/// multiples of <see cref="Chunk"/> in absolute positions, so a query's arithmetic does not depend on which tokens share
/// its tile: a sequence decoded alone or in a batch gets the same bits.
/// </para>
/// <para>
/// F16 rows are widened by bits alone (sign-extend, shift, mask: three operations for eight values), which leaves each
/// value 2^-112 times too small; the queries are scaled by 2^112 before the dot products and the softmax weights by
/// 2^112 before the weighted sum, so every product, and so every result, is bit for bit what exact widening gives
/// (powers of two scale exactly, and a fused multiply-add rounds only the sum). A tile whose queries are too large to
/// scale (|q| ≥ 2^15, never seen in a working model) widens exactly instead. Widening was half the time of decode
/// attention over a few hundred positions; the rest is reading the rows.
/// </para>
/// </summary>
internal sealed class Attention
{
    public const int Chunk = 32;
    public const int MaxTile = 8;
    // Chunks of rows asked for ahead of the one being read (1 left decode attention a fifth slower at depth 500).
    private const int PrefetchChunks = 2;
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
    private KvType _kvType;
    private int _rowBytes;
    private float[] _qBuf = [], _outBuf = [];
    private readonly int[] _tileStart, _tileCount, _tileOrder;
    private readonly long[] _tileCost;
    private int _items, _nextItem;

    private sealed class ThreadScratch(int hd, int queries, int context)
    {
        public readonly float[] K = new float[Chunk * hd];         // [Chunk × hd] keys of a chunk, widened
        public readonly float[] V = new float[Chunk * hd];         // [Chunk × hd] values of a chunk
        public readonly float[] W = new float[Chunk];              // [Chunk] one query's scores, then its weights
        public readonly float[] Row = new float[hd];               // reference path: one widened row
        public readonly float[] Max = new float[queries];          // [queries] running max score
        public readonly float[] Sum = new float[queries];          // [queries] running Σ exp(score - max)
        public readonly float[] Acc = new float[queries * hd];     // [queries × hd] running Σ exp(score - max)·v
        public readonly float[] Q = new float[queries * hd];       // [queries × hd] the tile's queries, scaled for raw rows
        public readonly float[] Scores = new float[context];       // reference path: one (token, head)'s weights
    }

    /// <param name="tiled">False runs the plain two-pass reference (tests compare the two).</param>
    public Attention(ModelConfig c, ComputePool pool, int context, int maxBatch, bool tiled = true)
    {
        _c = c;
        _pool = pool;
        _context = context;
        _scale = 1f / MathF.Sqrt(c.HeadDim);
        // The tiled path works on rows 8 values at a time, widens them with AVX2 and folds scores with horizontal adds.
        _tiled = tiled && c.HeadDim % 8 == 0 && Avx2.IsSupported;
        _scratch = new ThreadScratch[pool.Threads];
        for (int t = 0; t < pool.Threads; t++) _scratch[t] = new ThreadScratch(c.HeadDim, MaxTile * c.GroupSize, context);
        _tileStart = new int[maxBatch];
        _tileCount = new int[maxBatch];
        _tileOrder = new int[maxBatch];
        _tileCost = new long[maxBatch];
        _tiledBody = RunTiles;
        _referenceBody = RunReferenceItems;
    }

    /// <summary>q: [n × QDim] (rope applied); output: [n × QDim]; token i continues seqs[i] at positions[i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(KvSequence?[] seqs, int[] positions, int layer, int n, float[] q, float[] output)
    {
        for (int i = 0; i < n; i++)
            if (positions[i] >= _context)
                throw new StrataException($"context is full: position {positions[i] + 1} exceeds the context of {_context}");
        _seqs = seqs;
        _positions = positions;
        var layout = seqs[0]!.Layout; // one model, one layout for every sequence
        _kvType = layout.Type;
        _rowBytes = layout.RowBytes;
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
                long pairs = (long)(i - start) * (positions[i - 1] + 1);
                _tileStart[tiles] = start;
                _tileCount[tiles] = i - start;
                _tileOrder[tiles] = tiles;
                _tileCost[tiles++] = -pairs; // negated: the sort puts the dearest first
                work += pairs;
            }
            _tiles = tiles;
            // A work item is a tile and one KV head (items of a tile and all its heads, whose rows are read in runs, measured
            // slower: 22 against 14 ms for 8 sequences at depth 500). Items are handed out dearest first as threads come
            // free, which balances tiles of unequal length (a prompt's causal triangle, sequences of different depths).
            Array.Sort(_tileCost, _tileOrder, 0, tiles);
            _items = tiles * _c.KvHeads;
            _nextItem = 0;
            // A few thousand multiply-adds cost less than waking the pool.
            if (work * _c.Heads * _c.HeadDim < SmallWork) _tiledBody(0, 1, 0);
            else _pool.ParallelFor(_pool.Threads, _tiledBody);
        }
        else _pool.ParallelFor(n * _c.Heads, _referenceBody);
        _seqs = [];
    }

    /// <summary>
    /// One thread's part: items claimed one ahead of the one it works on, so that the last chunks of an item can ask
    /// for the first rows of the next.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RunTiles(int begin, int end, int thread)
    {
        int item = Interlocked.Increment(ref _nextItem) - 1;
        if (item >= _items) return;
        for (int c = 0; c < PrefetchChunks; c++) Prefetch(item, c);
        while (item < _items)
        {
            int next = Interlocked.Increment(ref _nextItem) - 1;
            RunItem(item, next < _items ? next : -1, thread);
            item = next;
        }
    }

    /// <summary>Item i: the i % tiles'th dearest tile, KV head i / tiles.</summary>
    private (int Tile, int KvHead) ItemOf(int item) => (_tileOrder[item % _tiles], item / _tiles);

    /// <summary>Asks for chunk c of a work item's rows (nothing when it has fewer).</summary>
    private void Prefetch(int item, int c)
    {
        var (tile, kvHead) = ItemOf(item);
        int start = _tileStart[tile], last = _positions[start] + _tileCount[tile] - 1;
        if (c * Chunk <= last) Prefetch(_seqs[start]!, kvHead, c * Chunk, last);
    }

    /// <summary>
    /// Asks for the K and V rows of one head at positions [c0, min(c0 + Chunk, last + 1)), into the core's
    /// L2: with several sequences decoding the rows are not in any cache, and a head is a short piece of each row (128
    /// bytes of 1 KiB for 1.1B), a stride the hardware prefetcher follows poorly. Without this, decode attention over
    /// a few hundred positions took twice as long.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void Prefetch(KvSequence seq, int kvHead, int c0, int last)
    {
        int span = HeadBytes, offset = kvHead * span, count = Math.Min(Chunk, last + 1 - c0);
        for (int kind = 0; kind < 2; kind++)
            for (int p = 0; p < count;)
            {
                var rows = seq.BlockRows(_layer, kind, c0 + p);
                int run = Math.Min(count - p, rows.Length / _rowBytes);
                fixed (byte* b = rows)
                {
                    byte* src = b + offset;
                    for (int r = 0; r < run; r++, p++, src += _rowBytes)
                    {
                        // Into L2, not L1 (which made decode attention half again as slow at depth 500).
                        for (int o = 0; o < span; o += 64) Sse.Prefetch1(src + o);
                        Sse.Prefetch1(src + span - 1);
                    }
                }
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RunItem(int item, int next, int thread)
    {
        var (tile, kvHead) = ItemOf(item);
        int hd = _c.HeadDim, g = _c.GroupSize, start = _tileStart[tile], count = _tileCount[tile];
        var seq = _seqs[start]!;
        int first = _positions[start], last = first + count - 1, chunks = (last + Chunk) / Chunk;
        var s = _scratch[thread];
        int queries = count * g; // query qi = t·g + j: token start+t, head kvHead·g + j
        s.Max.AsSpan(0, queries).Fill(float.NegativeInfinity);
        s.Sum.AsSpan(0, queries).Clear();
        s.Acc.AsSpan(0, queries * hd).Clear();
        bool raw = _kvType == KvType.F16 && ScaleQueries(start, count, kvHead, s.Q);
        float weightScale = raw ? HalfBits.Rebias : 1f;

        for (int c0 = 0; c0 <= last; c0 += Chunk)
        {
            int cn = Math.Min(Chunk, last + 1 - c0);
            LoadChunk(seq, kvHead, c0, cn, raw, s);
            // Ask for the rows PrefetchChunks ahead: this item's, or past its end the next item's first ones.
            int ahead = c0 / Chunk + PrefetchChunks;
            if (ahead < chunks) Prefetch(seq, kvHead, ahead * Chunk, last);
            else if (next >= 0) Prefetch(next, ahead - chunks);
            for (int t = 0; t < count; t++)
            {
                int valid = Math.Min(cn, first + t - c0 + 1); // causal: positions ≤ the query's own
                if (valid <= 0) continue;
                int token = start + t;
                for (int j = 0; j < g; j++)
                {
                    int qi = t * g + j, h = kvHead * g + j;
                    var qRow = raw ? s.Q.AsSpan(qi * hd, hd) : _qBuf.AsSpan(token * _c.QDim + h * hd, hd);
                    float chunkMax = Scores(qRow, s.K, valid, hd, _scale, s.W);
                    float m = s.Max[qi], mNew = MathF.Max(m, chunkMax);
                    float correction = m == float.NegativeInfinity ? 0f : MathF.Exp(m - mNew);
                    s.Sum[qi] = s.Sum[qi] * correction + ExpWeights(s.W, valid, mNew, weightScale);
                    s.Max[qi] = mNew;
                    Accumulate(s.Acc.AsSpan(qi * hd, hd), correction, s.W, s.V, valid, hd);
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

    /// <summary>
    /// dst[(t·g + j)·hd + d] = 2^112 · q of token start+t, head kvHead·g + j (a KV head's query heads lie together in a
    /// token's row); false (dst unspecified) when some |q| ≥ 2^15, where the scaled value would near the float's range.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool ScaleQueries(int start, int count, int kvHead, float[] dst)
    {
        int width = _c.GroupSize * _c.HeadDim;
        var rebias = Vector256.Create(HalfBits.Rebias);
        var limit = Vector256.Create(32768f);
        var over = Vector256<float>.Zero;
        for (int t = 0; t < count; t++)
        {
            ref float q = ref _qBuf[(start + t) * _c.QDim + kvHead * width];
            ref float d = ref dst[t * width];
            for (int i = 0; i < width; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref q, (nuint)i);
                over |= Vector256.GreaterThanOrEqual(Vector256.Abs(v), limit);
                (v * rebias).StoreUnsafe(ref d, (nuint)i);
            }
        }
        return over == Vector256<float>.Zero;
    }

    /// <summary>
    /// Widens positions [c0, c0+cn) of one KV head into K[p·hd + d] and V[p·hd + d]; key rows up to the next multiple
    /// of 8 are zeroed, so the last group of scores reads no stale NaN (those lanes are masked anyway).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void LoadChunk(KvSequence seq, int kvHead, int c0, int cn, bool raw, ThreadScratch s)
    {
        int hd = _c.HeadDim, offset = kvHead * HeadBytes;
        for (int kind = 0; kind < 2; kind++)
        {
            var dst = kind == 0 ? s.K : s.V;
            // Rows of one block lie together: one lookup per block, then a run of rows.
            for (int p = 0; p < cn;)
            {
                var rows = seq.BlockRows(_layer, kind, c0 + p);
                int run = Math.Min(cn - p, rows.Length / _rowBytes);
                if (raw)
                    fixed (byte* b = rows)
                    fixed (float* d = dst)
                    {
                        byte* src = b + offset;
                        for (int r = 0; r < run; r++, p++, src += _rowBytes) WidenRaw((short*)src, d + p * hd, hd);
                    }
                else
                    for (int r = 0; r < run; r++, p++)
                        WidenHead(rows.Slice(r * _rowBytes, _rowBytes), kvHead, dst.AsSpan(p * hd, hd));
            }
        }
        int padded = (cn + 7) & ~7;
        if (padded > cn) s.K.AsSpan(cn * hd, (padded - cn) * hd).Clear();
    }

    /// <summary>Bytes of one KV head in a cache row.</summary>
    private int HeadBytes => _kvType == KvType.Q8_0 ? _c.HeadDim / KvTypeInfo.Q8Block * KvTypeInfo.Q8BlockBytes : _c.HeadDim * 2;

    /// <summary>
    /// F16 values widened by bits to 2^-112 times their value. Subnormal halves become float subnormals, which cost
    /// Intel cores a microcode assist per operation (the weight tiles avoid them: 0.2 % of weights are subnormal); keys
    /// and values below 2^-14 are rare enough that the three-operation widening still pays here.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void WidenRaw(short* h, float* dst, int hd)
    {
        for (int d = 0; d < hd; d += 8)
            (F16Tile.Bits256(h + d) & Vector256.Create(unchecked((int)0x8fffe000))).AsSingle().Store(dst + d);
    }

    private void WidenRow(KvSequence seq, int kind, int position, int kvHead, Span<float> dst) =>
        WidenHead(seq.RowBytes(_layer, kind, position), kvHead, dst);

    /// <summary>One KV head's values of a K or V row, widened to f32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WidenHead(Span<byte> row, int kvHead, Span<float> dst)
    {
        int hd = _c.HeadDim;
        if (_kvType == KvType.Q8_0)
        {
            int blockBytes = hd / KvTypeInfo.Q8Block * KvTypeInfo.Q8BlockBytes;
            Q8Row.Widen(row.Slice(kvHead * blockBytes, blockBytes), dst);
        }
        else HalfVector.Convert(MemoryMarshal.Cast<byte, Half>(row).Slice(kvHead * hd, hd), dst);
    }

    /// <summary>
    /// w[p] = scale·(q · K[p]) for p in [0, valid), −∞ for the rest of the last group of 8; returns the largest score.
    /// Eight positions at a time, each with its own accumulator (independent chains), folded into one vector of
    /// eight scores by horizontal adds.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Scores(ReadOnlySpan<float> q, float[] keys, int valid, int hd, float scale, float[] w)
    {
        ref float qr = ref MemoryMarshal.GetReference(q);
        ref float k = ref MemoryMarshal.GetArrayDataReference(keys);
        ref float wr = ref MemoryMarshal.GetArrayDataReference(w);
        var lane = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        var max = Vector256.Create(float.NegativeInfinity);
        for (int p0 = 0; p0 < valid; p0 += 8)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            ref float row = ref Unsafe.Add(ref k, p0 * hd);
            for (int d = 0; d < hd; d += 8)
            {
                var qv = Vector256.LoadUnsafe(ref qr, (nuint)d);
                a0 = Vector256.FusedMultiplyAdd(qv, Vector256.LoadUnsafe(ref row, (nuint)d), a0);
                a1 = Vector256.FusedMultiplyAdd(qv, Vector256.LoadUnsafe(ref row, (nuint)(hd + d)), a1);
                a2 = Vector256.FusedMultiplyAdd(qv, Vector256.LoadUnsafe(ref row, (nuint)(2 * hd + d)), a2);
                a3 = Vector256.FusedMultiplyAdd(qv, Vector256.LoadUnsafe(ref row, (nuint)(3 * hd + d)), a3);
                a4 = Vector256.FusedMultiplyAdd(qv, Vector256.LoadUnsafe(ref row, (nuint)(4 * hd + d)), a4);
                a5 = Vector256.FusedMultiplyAdd(qv, Vector256.LoadUnsafe(ref row, (nuint)(5 * hd + d)), a5);
                a6 = Vector256.FusedMultiplyAdd(qv, Vector256.LoadUnsafe(ref row, (nuint)(6 * hd + d)), a6);
                a7 = Vector256.FusedMultiplyAdd(qv, Vector256.LoadUnsafe(ref row, (nuint)(7 * hd + d)), a7);
            }
            var scores = Reduce8(a0, a1, a2, a3, a4, a5, a6, a7) * Vector256.Create(scale);
            var keep = Vector256.LessThan(lane, Vector256.Create(valid - p0)).AsSingle();
            scores = Vector256.ConditionalSelect(keep, scores, Vector256.Create(float.NegativeInfinity));
            max = Vector256.Max(max, scores);
            scores.StoreUnsafe(ref wr, (nuint)p0);
        }
        return HorizontalMax(max);
    }

    /// <summary>[Σa0, Σa1, …, Σa7]: the lane sums of eight vectors as one vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Reduce8(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3,
        Vector256<float> a4, Vector256<float> a5, Vector256<float> a6, Vector256<float> a7)
    {
        // Within each 128-bit half: [s0 s1 s2 s3] of that half's lanes; then the halves are added.
        var h0123 = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));
        var h4567 = Avx.HorizontalAdd(Avx.HorizontalAdd(a4, a5), Avx.HorizontalAdd(a6, a7));
        return Avx.Permute2x128(h0123, h4567, 0x20) + Avx.Permute2x128(h0123, h4567, 0x31);
    }

    /// <summary>
    /// w[p] = scale·exp(w[p] − max) over the groups of 8 that hold [0, valid); returns Σ exp(w[p] − max). Masked lanes
    /// hold −∞ and become 0 (max is finite: every chunk a query reads holds at least its own position or an earlier one).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float ExpWeights(float[] w, int valid, float max, float scale)
    {
        ref float wr = ref MemoryMarshal.GetArrayDataReference(w);
        var m = Vector256.Create(max);
        var k = Vector256.Create(scale);
        var sum = Vector256<float>.Zero;
        for (int p0 = 0; p0 < valid; p0 += 8)
        {
            var p = Vector256.Exp(Vector256.LoadUnsafe(ref wr, (nuint)p0) - m);
            sum += p;
            (p * k).StoreUnsafe(ref wr, (nuint)p0);
        }
        return Vector256.Sum(sum);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalMax(Vector256<float> v)
    {
        var m = Vector128.Max(v.GetLower(), v.GetUpper());
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(2, 3, 0, 1)));
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(1, 0, 3, 2)));
        return m.ToScalar();
    }

    /// <summary>
    /// acc = acc·correction + Σ_p w[p]·V[p] over [0, valid). Thirty-two values of acc at a time stay in registers
    /// while the positions stream past (one broadcast weight feeds four independent chains).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Accumulate(Span<float> acc, float correction, float[] w, float[] values, int valid, int hd)
    {
        ref float a = ref MemoryMarshal.GetReference(acc);
        ref float v = ref MemoryMarshal.GetArrayDataReference(values);
        ref float wr = ref MemoryMarshal.GetArrayDataReference(w);
        var corr = Vector256.Create(correction);
        int d = 0;
        for (; d + 32 <= hd; d += 32)
        {
            var a0 = Vector256.LoadUnsafe(ref a, (nuint)d) * corr;
            var a1 = Vector256.LoadUnsafe(ref a, (nuint)(d + 8)) * corr;
            var a2 = Vector256.LoadUnsafe(ref a, (nuint)(d + 16)) * corr;
            var a3 = Vector256.LoadUnsafe(ref a, (nuint)(d + 24)) * corr;
            ref float row = ref Unsafe.Add(ref v, d);
            for (int p = 0; p < valid; p++, row = ref Unsafe.Add(ref row, hd))
            {
                var weight = Vector256.Create(Unsafe.Add(ref wr, p));
                a0 = Vector256.FusedMultiplyAdd(weight, Vector256.LoadUnsafe(ref row), a0);
                a1 = Vector256.FusedMultiplyAdd(weight, Vector256.LoadUnsafe(ref row, 8), a1);
                a2 = Vector256.FusedMultiplyAdd(weight, Vector256.LoadUnsafe(ref row, 16), a2);
                a3 = Vector256.FusedMultiplyAdd(weight, Vector256.LoadUnsafe(ref row, 24), a3);
            }
            a0.StoreUnsafe(ref a, (nuint)d);
            a1.StoreUnsafe(ref a, (nuint)(d + 8));
            a2.StoreUnsafe(ref a, (nuint)(d + 16));
            a3.StoreUnsafe(ref a, (nuint)(d + 24));
        }
        for (; d < hd; d += 8)
        {
            var a0 = Vector256.LoadUnsafe(ref a, (nuint)d) * corr;
            for (int p = 0; p < valid; p++)
                a0 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref wr, p)), Vector256.LoadUnsafe(ref v, (nuint)(p * hd + d)), a0);
            a0.StoreUnsafe(ref a, (nuint)d);
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
