namespace Strata.Kv;

/// <summary>
/// The KV cache of one sequence: its tokens and a block table mapping positions to pool blocks (position p lives in
/// block table[p / BlockTokens], slot p % BlockTokens). Blocks are taken from the pool as the sequence grows; full
/// blocks that the cache has named (<see cref="CommittedBlocks"/>) may be shared with other sequences and are never
/// written again.
/// </summary>
public sealed class KvSequence : IDisposable
{
    private readonly KvBlockPool _pool;
    private readonly int[] _table;
    private readonly int[] _tokens;
    private readonly BlockHash[] _hashes;
    private readonly int _blockTokens, _rowBytes; // the layout's, read once: rows are looked up per position and head
    private int _blocks;

    public KvSequence(KvBlockPool pool, int maxPositions)
    {
        _pool = pool;
        MaxPositions = maxPositions;
        int blocks = pool.Layout.BlocksFor(maxPositions);
        _table = new int[blocks];
        _hashes = new BlockHash[blocks];
        _tokens = new int[maxPositions];
        _blockTokens = pool.Layout.BlockTokens;
        _rowBytes = pool.Layout.RowBytes;
    }

    public KvLayout Layout => _pool.Layout;
    public KvBlockPool Pool => _pool;
    public IKvBlockStore Store => _pool.Store ?? throw new InvalidOperationException("this pool holds metadata only");
    public int MaxPositions { get; }

    /// <summary>Positions whose K and V are stored.</summary>
    public int Length { get; private set; }

    /// <summary>The token at each stored position.</summary>
    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, Length);

    public ReadOnlySpan<int> BlockTable => _table.AsSpan(0, _blocks);

    /// <summary>Leading full blocks whose hashes are known (and that the pool may share).</summary>
    public int CommittedBlocks { get; private set; }

    public ReadOnlySpan<BlockHash> CommittedHashes => _hashes.AsSpan(0, CommittedBlocks);

    /// <summary>Makes room for positions [0, <paramref name="positions"/>); throws when the context or the pool is full.</summary>
    public void Reserve(int positions)
    {
        if (positions > MaxPositions)
            throw new StrataException($"context is full: {positions} positions requested, the context holds {MaxPositions}");
        int needed = Layout.BlocksFor(positions);
        while (_blocks < needed)
        {
            if (!_pool.TryAllocate(out int id))
                throw new StrataException($"KV cache is out of blocks ({_pool.Capacity} blocks of {Layout.BlockTokens} positions, all in use)");
            _table[_blocks++] = id;
        }
    }

    /// <summary>Records that the forward pass stored the KV of <paramref name="tokens"/> at the next positions.</summary>
    public void Append(ReadOnlySpan<int> tokens)
    {
        if (Length + tokens.Length > _blocks * Layout.BlockTokens) throw new InvalidOperationException("length beyond reserved blocks");
        tokens.CopyTo(_tokens.AsSpan(Length));
        Length += tokens.Length;
    }

    /// <summary>Adds a full block found in the cache (already retained) after the committed ones.</summary>
    internal void AppendCached(int id, BlockHash hash, ReadOnlySpan<int> tokens)
    {
        if (Length != CommittedBlocks * Layout.BlockTokens || _blocks != CommittedBlocks)
            throw new InvalidOperationException("cached blocks can only extend a sequence made of cached blocks");
        _table[_blocks++] = id;
        _hashes[CommittedBlocks++] = hash;
        tokens.CopyTo(_tokens.AsSpan(Length));
        Length += tokens.Length;
    }

    /// <summary>Records the hash of the next full block (the cache decides whether the pool shares it).</summary>
    internal void MarkCommitted(BlockHash hash) => _hashes[CommittedBlocks++] = hash;

    /// <summary>
    /// Forgets positions from <paramref name="length"/> on, returning whole blocks no longer needed. A shared block
    /// that would be written again is first copied to a private one, so no other sequence sees the change.
    /// </summary>
    public void Truncate(int length)
    {
        if (length < 0 || length > Length) throw new ArgumentOutOfRangeException(nameof(length));
        int bt = Layout.BlockTokens;
        int keep = Layout.BlocksFor(length);
        while (_blocks > keep) _pool.Release(_table[--_blocks]);
        if (CommittedBlocks > length / bt)
        {
            CommittedBlocks = length / bt;
            if (length % bt != 0) MakePrivate(keep - 1);
        }
        Length = length;
    }

    private void MakePrivate(int index)
    {
        int old = _table[index];
        if (_pool.RefCount(old) == 1 && !_pool.IsCached(old)) return; // nobody else can see it
        if (!_pool.TryAllocate(out int copy))
            throw new StrataException($"KV cache is out of blocks ({_pool.Capacity} blocks of {Layout.BlockTokens} positions, all in use)");
        if (_pool.Store is { } store) store.Block(old).CopyTo(store.Block(copy));
        _table[index] = copy;
        _pool.Release(old);
    }

    /// <summary>The K (kind 0) or V (kind 1) row of one position in one layer: <see cref="KvLayout.RowBytes"/> bytes
    /// of KvDim values in the layout's <see cref="KvLayout.Type"/>.</summary>
    public Span<byte> RowBytes(int layer, int kind, int position)
    {
        int bt = _blockTokens;
        return Store.Block(_table[position / bt]).Slice( // KvLayout.RowOffset, with the row size read once
            ((layer * 2 + kind) * bt + position % bt) * _rowBytes, _rowBytes);
    }

    /// <summary>
    /// The K or V rows of one layer from <paramref name="position"/> to the end of its block, contiguous
    /// (<see cref="KvLayout.RowBytes"/> apart): a reader of consecutive positions asks once per block, not per row.
    /// </summary>
    public Span<byte> BlockRows(int layer, int kind, int position)
    {
        int bt = _blockTokens, slot = position % bt;
        return Store.Block(_table[position / bt]).Slice(((layer * 2 + kind) * bt + slot) * _rowBytes, (bt - slot) * _rowBytes);
    }

    /// <summary>The same row as KvDim f16 values; only for <see cref="KvType.F16"/> layouts.</summary>
    public Span<Half> Row(int layer, int kind, int position)
    {
        if (Layout.Type != KvType.F16) throw new InvalidOperationException($"{KvTypeInfo.Name(Layout.Type)} KV rows are not f16: use RowBytes");
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(RowBytes(layer, kind, position));
    }

    /// <summary>Gives every block back; the pool keeps named ones cached. Deepest blocks go first, so that a policy
    /// ordering by release sees the prefix's root as the most recent and evicts leaves before the blocks they extend.</summary>
    public void Dispose()
    {
        while (_blocks > 0) _pool.Release(_table[--_blocks]);
        Length = 0;
        CommittedBlocks = 0;
    }
}
