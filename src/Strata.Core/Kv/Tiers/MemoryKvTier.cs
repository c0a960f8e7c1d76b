namespace Strata.Kv.Tiers;

/// <summary>
/// The <c>far</c> tier: a pool of block slots in one native region — bound to a CPU-less NUMA node (CXL-attached
/// memory) where the machine has one, else plain DRAM of its own capacity. Reads and writes are memory copies.
/// </summary>
public sealed class MemoryKvTier : IKvTier
{
    private readonly object _lock = new();
    private readonly int _blockBytes;
    private readonly Dictionary<BlockHash, int> _slots = new();
    private readonly Stack<int> _free = new();
    private readonly string _where;
    private NativeRegion? _region;

    /// <param name="numaNode">The node to bind the pool's pages to (far memory), or null for ordinary memory.</param>
    public MemoryKvTier(string name, int blockBytes, int capacityBlocks, string where, int? numaNode = null)
    {
        if (capacityBlocks <= 0) throw new ArgumentOutOfRangeException(nameof(capacityBlocks));
        Name = name;
        _blockBytes = blockBytes;
        CapacityBlocks = capacityBlocks;
        _where = where;
        // Committed lazily by the OS: a large far pool costs only the blocks it holds.
        _region = NativeRegion.Allocate((long)blockBytes * capacityBlocks, numaNode);
        for (int i = capacityBlocks - 1; i >= 0; i--) _free.Push(i);
    }

    public string Name { get; }
    public int CapacityBlocks { get; }
    public bool IsSlow => false;
    public bool Persistent => false;
    public IReadOnlyCollection<BlockHash> Keys => [];

    public string Describe() => $"{Name}: {_where}, {CapacityBlocks} blocks ({(long)CapacityBlocks * _blockBytes >> 20} MiB)";

    public bool Contains(BlockHash key)
    {
        lock (_lock) return _slots.ContainsKey(key);
    }

    public bool TryRead(BlockHash key, Span<byte> destination)
    {
        lock (_lock)
        {
            if (!_slots.TryGetValue(key, out int slot)) return false;
            Slot(slot).CopyTo(destination);
            return true;
        }
    }

    public bool TryWrite(BlockHash key, ReadOnlySpan<byte> source)
    {
        lock (_lock)
        {
            if (_slots.ContainsKey(key)) return true;
            if (_free.Count == 0) return false;
            int slot = _free.Pop();
            if (source.Length > 0) source.CopyTo(Slot(slot));
            _slots.Add(key, slot);
            return true;
        }
    }

    public void Remove(BlockHash key)
    {
        lock (_lock)
            if (_slots.Remove(key, out int slot)) _free.Push(slot);
    }

    public int? NumaNode => _region?.Node;

    private Span<byte> Slot(int slot) =>
        (_region ?? throw new ObjectDisposedException(Name)).Slice((long)slot * _blockBytes, _blockBytes);

    public void Dispose()
    {
        lock (_lock)
        {
            _region?.Dispose();
            _region = null;
            _slots.Clear();
        }
    }
}
