using Strata.Kv;

namespace Strata.Router;

/// <summary>
/// Which backends have computed which blocks, as far as the router knows: for each block hash a bit per backend (set
/// when a request whose prompt holds the block was sent there), least recently used entries dropped past the
/// capacity. A backend evicts on its own, so this is a belief — a wrong one costs a cache miss, never a wrong answer.
/// </summary>
public sealed class AffinityTable
{
    public const int MaxBackends = 64;

    private readonly Lock _lock = new();
    private readonly Dictionary<BlockHash, LinkedListNode<(BlockHash Key, ulong Backends)>> _map = new();
    private readonly LinkedList<(BlockHash Key, ulong Backends)> _lru = new();   // most recent first

    public AffinityTable(int capacity = 1 << 20) => Capacity = Math.Max(1, capacity);

    public int Capacity { get; }

    public int Count
    {
        get { lock (_lock) return _map.Count; }
    }

    /// <summary>For each backend, how many of <paramref name="blocks"/>, from the first, it is believed to hold.</summary>
    public int[] Matches(ReadOnlySpan<BlockHash> blocks, int backends)
    {
        var matched = new int[backends];
        ulong alive = backends >= 64 ? ulong.MaxValue : (1UL << backends) - 1;
        lock (_lock)
        {
            for (int b = 0; b < blocks.Length && alive != 0; b++)
            {
                ulong has = _map.TryGetValue(blocks[b], out var node) ? node.Value.Backends : 0;
                alive &= has;
                for (ulong bits = alive; bits != 0; bits &= bits - 1) matched[System.Numerics.BitOperations.TrailingZeroCount(bits)]++;
            }
        }
        return matched;
    }

    /// <summary>Records that <paramref name="backend"/> now holds every one of <paramref name="blocks"/>.</summary>
    public void Record(ReadOnlySpan<BlockHash> blocks, int backend)
    {
        ulong bit = 1UL << backend;
        lock (_lock)
        {
            foreach (var key in blocks)
            {
                if (_map.TryGetValue(key, out var node))
                {
                    _lru.Remove(node);
                    node.Value = (key, node.Value.Backends | bit);
                    _lru.AddFirst(node);
                }
                else _map[key] = _lru.AddFirst((key, bit));
            }
            while (_map.Count > Capacity && _lru.Last is { } last)
            {
                _map.Remove(last.Value.Key);
                _lru.RemoveLast();
            }
        }
    }

    /// <summary>Forgets a backend (it restarted or went away: its DRAM cache is gone).</summary>
    public void Forget(int backend)
    {
        ulong keep = ~(1UL << backend);
        lock (_lock)
            for (var node = _lru.First; node is not null;)
            {
                var next = node.Next;
                node.Value = (node.Value.Key, node.Value.Backends & keep);
                if (node.Value.Backends == 0)
                {
                    _map.Remove(node.Value.Key);
                    _lru.Remove(node);
                }
                node = next;
            }
    }
}
