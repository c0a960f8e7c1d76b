namespace Strata.Kv.Replay;

/// <summary>
/// The offline optimum (Belady's MIN) for a cache of C blocks under prefix accounting, the bound a real policy is
/// measured against. A block hits when it and every earlier block of its request were resident before the
/// request. After each request its blocks are admitted in order, evicting the resident whose next use is farthest
/// (never-used-again first); a block used later than every resident is not admitted (bypass).
/// Built once per trace, so several capacities share the precomputed next uses.
/// With chained-prefix ids a block's parent is always used just before it, so the parent's key is smaller and a
/// child always goes first: resident sets stay prefix-closed, prefix hits equal block hits, and this is the optimum.
/// </summary>
public sealed class Belady
{
    private readonly int[] _blocks;   // dense block index at each access position, requests concatenated
    private readonly int[] _starts;   // first position of each request, plus the total at the end
    private readonly int[] _next;     // next position of the same block, or NoNext
    private const int NoNext = int.MaxValue;

    public Belady(IReadOnlyList<TraceRequest> requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        long total = 0;
        for (int r = 0; r < requests.Count; r++) total += requests[r].HashIds.Length;
        if (total >= Array.MaxLength) throw new StrataException($"The trace has {total} blocks; Belady handles fewer than {Array.MaxLength}.");
        _blocks = new int[total];
        _starts = new int[requests.Count + 1];
        var dense = new Dictionary<long, int>();
        int p = 0;
        for (int r = 0; r < requests.Count; r++)
        {
            _starts[r] = p;
            foreach (long id in requests[r].HashIds)
            {
                if (!dense.TryGetValue(id, out int b)) dense.Add(id, b = dense.Count);
                _blocks[p++] = b;
            }
        }
        _starts[^1] = p;
        DistinctBlocks = dense.Count;
        // One backward pass: the next use of each position is the last position seen for its block.
        _next = new int[total];
        var seen = new int[DistinctBlocks];
        Array.Fill(seen, NoNext);
        for (int i = _blocks.Length - 1; i >= 0; i--)
        {
            _next[i] = seen[_blocks[i]];
            seen[_blocks[i]] = i;
        }
        InfiniteCacheHits = CountInfiniteHits();
    }

    public int RequestCount => _starts.Length - 1;
    /// <summary>Block lookups in the trace: the sum of its requests' id counts.</summary>
    public long BlockCount => _blocks.Length;
    public int DistinctBlocks { get; }
    /// <summary>Prefix hits with unbounded capacity: every miss is a first use or follows a first use.</summary>
    public long InfiniteCacheHits { get; }
    /// <summary>The ceiling on any cache's prefix hit rate for this trace.</summary>
    public double InfiniteCacheHitRate => BlockCount == 0 ? 0 : (double)InfiniteCacheHits / BlockCount;

    public static BeladyResult Run(IReadOnlyList<TraceRequest> requests, long capacity) => new Belady(requests).Run(capacity);

    public BeladyResult Run(long capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        long never = _blocks.Length; // keys from here up mean never used again
        // A resident's key is its next-use position (unique: one block per position) or, if never used again,
        // never + its index, so the largest key is always the block to evict and keys never tie. The max-heap keeps
        // stale keys of re-keyed or evicted blocks and drops them when they surface (lazy deletion): cheaper
        // than a balanced tree, and it holds at most one entry per access.
        var keyOf = new long[DistinctBlocks];
        Array.Fill(keyOf, -1L);
        var heap = new PriorityQueue<long, long>();
        long residents = 0, hits = 0;
        for (int r = 0; r < RequestCount; r++)
        {
            int start = _starts[r], end = _starts[r + 1];
            for (int i = start; i < end && keyOf[_blocks[i]] >= 0; i++) hits++;
            if (capacity == 0) continue;
            for (int i = start; i < end; i++)
            {
                int next = _next[i];
                if (next < end) continue; // a repeat later in this request carries the block's next use
                int b = _blocks[i];
                long key = next == NoNext ? never + b : next;
                if (keyOf[b] < 0)
                {
                    if (residents == capacity)
                    {
                        long farthest = PeekFarthest(heap, keyOf, never);
                        if (key > farthest) continue; // bypass: every resident is needed sooner
                        heap.Dequeue();
                        keyOf[BlockOf(farthest, never)] = -1;
                        residents--;
                    }
                    residents++;
                }
                keyOf[b] = key;
                heap.Enqueue(key, -key);
            }
        }
        return new BeladyResult(capacity, RequestCount, BlockCount, hits);
    }

    private int BlockOf(long key, long never) => key >= never ? (int)(key - never) : _blocks[key];

    private long PeekFarthest(PriorityQueue<long, long> heap, long[] keyOf, long never)
    {
        while (true)
        {
            long key = heap.Peek();
            if (keyOf[BlockOf(key, never)] == key) return key;
            heap.Dequeue();
        }
    }

    private long CountInfiniteHits()
    {
        var seen = new bool[DistinctBlocks];
        long hits = 0;
        for (int r = 0; r < RequestCount; r++)
        {
            int start = _starts[r], end = _starts[r + 1];
            for (int i = start; i < end && seen[_blocks[i]]; i++) hits++;
            for (int i = start; i < end; i++) seen[_blocks[i]] = true;
        }
        return hits;
    }
}
