namespace Strata.Kv;

/// <summary>
/// Hands out block ids of a store with reference counts, so that sequences sharing a prefix can share its blocks.
/// The free list is a stack: allocate and release are O(1) and allocate nothing.
/// </summary>
public sealed class KvBlockPool
{
    private readonly int[] _refCounts;
    private readonly int[] _free;
    private int _freeCount;

    public KvBlockPool(IKvBlockStore store)
    {
        Store = store;
        _refCounts = new int[store.Capacity];
        _free = new int[store.Capacity];
        // Lowest ids first, so a fresh pool fills memory front to back.
        for (int i = 0; i < _free.Length; i++) _free[i] = _free.Length - 1 - i;
        _freeCount = _free.Length;
    }

    public IKvBlockStore Store { get; }
    public KvLayout Layout => Store.Layout;
    public int FreeBlocks => _freeCount;
    public int Capacity => _free.Length;

    public bool TryAllocate(out int id)
    {
        if (_freeCount == 0)
        {
            id = -1;
            return false;
        }
        id = _free[--_freeCount];
        _refCounts[id] = 1;
        return true;
    }

    public void Retain(int id)
    {
        if (_refCounts[id] <= 0) throw new InvalidOperationException($"block {id} is not allocated");
        _refCounts[id]++;
    }

    public void Release(int id)
    {
        if (_refCounts[id] <= 0) throw new InvalidOperationException($"block {id} released more often than retained");
        if (--_refCounts[id] == 0) _free[_freeCount++] = id;
    }

    public int RefCount(int id) => _refCounts[id];
}
