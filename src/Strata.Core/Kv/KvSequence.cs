namespace Strata.Kv;

/// <summary>
/// The KV cache of one sequence: a block table mapping positions to pool blocks (position p lives in block
/// table[p / BlockTokens], slot p % BlockTokens). Blocks are taken from the pool as the sequence grows.
/// </summary>
public sealed class KvSequence : IDisposable
{
    private readonly KvBlockPool _pool;
    private int[] _table;
    private int _blocks;

    public KvSequence(KvBlockPool pool, int maxPositions)
    {
        _pool = pool;
        MaxPositions = maxPositions;
        _table = new int[(maxPositions + pool.Layout.BlockTokens - 1) / pool.Layout.BlockTokens];
    }

    public KvLayout Layout => _pool.Layout;
    public IKvBlockStore Store => _pool.Store;
    public int MaxPositions { get; }

    /// <summary>Positions whose K and V are stored.</summary>
    public int Length { get; private set; }

    public ReadOnlySpan<int> BlockTable => _table.AsSpan(0, _blocks);

    /// <summary>Makes room for positions [0, <paramref name="positions"/>); throws when the context or the pool is full.</summary>
    public void Reserve(int positions)
    {
        if (positions > MaxPositions)
            throw new StrataException($"context is full: {positions} positions requested, the context holds {MaxPositions}");
        int needed = (positions + Layout.BlockTokens - 1) / Layout.BlockTokens;
        while (_blocks < needed)
        {
            if (!_pool.TryAllocate(out int id))
                throw new StrataException($"KV cache is out of blocks ({_pool.Capacity} blocks of {Layout.BlockTokens} positions)");
            _table[_blocks++] = id;
        }
    }

    /// <summary>Marks positions [0, <paramref name="length"/>) as filled (after a forward pass wrote them).</summary>
    public void SetLength(int length)
    {
        if (length > _blocks * Layout.BlockTokens) throw new InvalidOperationException("length beyond reserved blocks");
        Length = length;
    }

    /// <summary>Forgets positions from <paramref name="length"/> on, returning whole blocks no longer needed.</summary>
    public void Truncate(int length)
    {
        if (length < 0 || length > Length) throw new ArgumentOutOfRangeException(nameof(length));
        int keep = (length + Layout.BlockTokens - 1) / Layout.BlockTokens;
        while (_blocks > keep) _pool.Release(_table[--_blocks]);
        Length = length;
    }

    /// <summary>The K (kind 0) or V (kind 1) row of one position in one layer: KvDim f16 values.</summary>
    public Span<Half> Row(int layer, int kind, int position)
    {
        int bt = Layout.BlockTokens;
        return Store.Block(_table[position / bt]).Slice(Layout.RowOffset(layer, kind, position % bt), Layout.KvDim);
    }

    public void Dispose() => Truncate(0);
}
