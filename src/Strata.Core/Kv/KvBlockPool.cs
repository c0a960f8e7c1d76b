using Strata.Kv.Policies;

namespace Strata.Kv;

/// <summary>
/// The DRAM working pool: hands out block ids with reference counts, so that sequences sharing a prefix share its
/// blocks, and keeps the prefix cache — full blocks named by their <see cref="BlockHash"/>, which stay resident after
/// their last sequence lets go, until the eviction policy picks them to make room. Free ids are a stack and cached ids
/// live in the policy's O(1) lists, so allocate and release are O(1) and allocate nothing.
/// </summary>
public sealed class KvBlockPool
{
    private readonly int[] _refCounts;
    private readonly int[] _free;
    private readonly BlockHash[] _hashes;
    private readonly bool[] _cached;
    private readonly Dictionary<BlockHash, int> _index;
    private readonly IEvictionPolicy<BlockHash> _policy; // keyed by content, so its history (ghosts, counts) outlives the id
    private int _freeCount, _evictable;

    /// <param name="store">Where the blocks' bytes live; null for a pool of metadata only (trace replay).</param>
    public KvBlockPool(KvLayout layout, int capacity, IKvBlockStore? store = null, string policy = EvictionPolicies.Default)
    {
        if (capacity <= 0) throw new ArgumentOutOfRangeException(nameof(capacity));
        if (store is not null && store.Capacity < capacity) throw new ArgumentException("the store holds fewer blocks than the pool");
        Layout = layout;
        Store = store;
        _refCounts = new int[capacity];
        _free = new int[capacity];
        _hashes = new BlockHash[capacity];
        _cached = new bool[capacity];
        _index = new Dictionary<BlockHash, int>(capacity);
        _policy = EvictionPolicies.Create<BlockHash>(policy, capacity);
        // Lowest ids first, so a fresh pool fills memory front to back.
        for (int i = 0; i < capacity; i++) _free[i] = capacity - 1 - i;
        _freeCount = capacity;
    }

    public KvBlockPool(IKvBlockStore store) : this(store.Layout, store.Capacity, store) { }

    public KvLayout Layout { get; }
    public IKvBlockStore? Store { get; }
    public int Capacity => _free.Length;
    public string PolicyName => _policy.Name;

    /// <summary>Blocks an allocation can take now: never used, or cached and unreferenced (evicted on demand).</summary>
    public int FreeBlocks => _freeCount + _evictable;

    /// <summary>Blocks holding a named full block (referenced or not).</summary>
    public int CachedBlocks => _index.Count;

    /// <summary>Called with a cached block's id and hash just before its memory is handed to someone else.</summary>
    public Action<int, BlockHash>? Evicting { get; set; }

    public long Evictions { get; private set; }

    public bool TryAllocate(out int id)
    {
        if (_freeCount > 0)
        {
            id = _free[--_freeCount];
        }
        else if (_policy.TryEvict(out var victim))
        {
            id = _index[victim];
            _evictable--;
            Evictions++;
            Evicting?.Invoke(id, _hashes[id]);
            _index.Remove(_hashes[id]);
            _cached[id] = false;
        }
        else
        {
            id = -1;
            return false;
        }
        _refCounts[id] = 1;
        return true;
    }

    public void Retain(int id)
    {
        if (_refCounts[id] <= 0 && !_cached[id]) throw new InvalidOperationException($"block {id} is not allocated");
        if (_refCounts[id]++ == 0)
        {
            _policy.Pin(_hashes[id]);
            _evictable--;
        }
    }

    public void Release(int id)
    {
        if (_refCounts[id] <= 0) throw new InvalidOperationException($"block {id} released more often than retained");
        if (--_refCounts[id] > 0) return;
        if (_cached[id])
        {
            _policy.Unpin(_hashes[id]);
            _evictable++;
        }
        else _free[_freeCount++] = id;
    }

    public int RefCount(int id) => _refCounts[id];

    public bool IsCached(int id) => _cached[id];

    public bool Contains(BlockHash hash) => _index.ContainsKey(hash);

    /// <summary>Finds a cached block and takes a reference to it (a prefix-cache hit).</summary>
    public bool TryAcquire(BlockHash hash, out int id)
    {
        if (!_index.TryGetValue(hash, out id)) return false;
        Retain(id);
        _policy.Hit(hash);
        return true;
    }

    /// <summary>
    /// Names a full, referenced block so that later sequences find it. False when another block already holds that
    /// content (two sequences computed it at once): this one then stays private and is freed as usual.
    /// </summary>
    public bool Register(int id, BlockHash hash)
    {
        if (_refCounts[id] <= 0) throw new InvalidOperationException($"block {id} is not allocated");
        if (_cached[id] || !_index.TryAdd(hash, id)) return false;
        _hashes[id] = hash;
        _cached[id] = true;
        _policy.Admit(hash, pinned: true);
        return true;
    }

    /// <summary>Drops every unreferenced cached block (e.g. <c>kv clear</c>); referenced ones stay.</summary>
    public void DropUnreferenced()
    {
        while (_policy.TryEvict(out var victim))
        {
            int id = _index[victim];
            _evictable--;
            _index.Remove(_hashes[id]);
            _cached[id] = false;
            _free[_freeCount++] = id;
        }
    }
}
