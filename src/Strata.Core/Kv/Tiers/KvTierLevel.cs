using System.Buffers;
using System.Collections.Concurrent;
using Strata.Kv.Policies;

namespace Strata.Kv.Tiers;

/// <summary>
/// A tier in the cache's hierarchy: the tier's store, its capacity in blocks, its eviction policy and its counters.
/// Writes to a slow tier are copied into a bounded queue and stored by a background thread, so the token loop never
/// waits for a device; when the queue is full the write is dropped and counted (the block is recomputed if needed).
/// </summary>
public sealed class KvTierLevel : IDisposable
{
    private readonly object _lock = new();
    private readonly IEvictionPolicy<BlockHash> _policy;
    private readonly int _blockBytes;
    private readonly BlockingCollection<(BlockHash Key, byte[] Bytes)>? _queue;
    private readonly Thread? _writer;
    private int _pending;
    private long _hits, _misses, _writes, _writeFailures, _evictions, _dropped;

    /// <summary>Bytes of block copies a slow tier's queue holds at most before writes are dropped.</summary>
    public const long QueueBytes = 256L << 20;

    /// <param name="capacityBlocks">Blocks this level may hold; ignored for a remote tier (the store decides).</param>
    public KvTierLevel(IKvTier tier, long capacityBlocks, string policy, int blockBytes, int queueBlocks = 0)
    {
        Tier = tier;
        StoreManaged = tier.IsRemote;
        Capacity = StoreManaged ? 0 : Math.Max(1, capacityBlocks);
        _blockBytes = blockBytes;
        _policy = EvictionPolicies.Create<BlockHash>(policy, (int)Math.Clamp(Capacity, 1, 1 << 24));
        // Blocks already on the device (an earlier run's) join the policy; beyond the capacity the oldest go.
        foreach (var key in tier.Keys)
        {
            _policy.Admit(key);
            if (_policy.Count > Capacity && _policy.TryEvict(out var victim)) tier.Remove(victim);
        }
        if (tier.IsSlow)
        {
            if (queueBlocks <= 0) queueBlocks = (int)Math.Clamp(QueueBytes / Math.Max(1, blockBytes), 16, 65536);
            _queue = new BlockingCollection<(BlockHash, byte[])>(queueBlocks);
            _writer = new Thread(WriteLoop) { IsBackground = true, Name = $"strata-kv-{tier.Name}-writer" };
            _writer.Start();
        }
    }

    public IKvTier Tier { get; }
    public string Name => Tier.Name;
    /// <summary>Blocks this level may hold; 0 for a remote tier, whose store decides.</summary>
    public long Capacity { get; }

    /// <summary>True for a remote tier: capacity and expiry are the store's, and no policy is kept here.</summary>
    public bool StoreManaged { get; }

    /// <summary>Where this tier's evicted blocks go when <see cref="CascadeEvictions"/> (write-back); null at the bottom.</summary>
    public KvTierLevel? Below { get; set; }
    public bool CascadeEvictions { get; set; }

    public int Count { get { lock (_lock) return _policy.Count; } }
    public long Hits => Interlocked.Read(ref _hits);
    public long Misses => Interlocked.Read(ref _misses);
    public long Writes => Interlocked.Read(ref _writes);
    public long WriteFailures => Interlocked.Read(ref _writeFailures);
    public long Evictions => Interlocked.Read(ref _evictions);
    public long DroppedWrites => Interlocked.Read(ref _dropped);

    /// <summary>Whether the tier has the block; never for a remote tier, which is asked only in batches (<see cref="ReadMany"/>).</summary>
    public bool Contains(BlockHash key) => !StoreManaged && Tier.Contains(key);


    /// <summary>Reads a batch of blocks (a reader thread); each failed read is a counted miss.</summary>
    public void ReadMany(ReadOnlySpan<BlockHash> keys, BlockDestination destination, Span<bool> ok)
    {
        ok.Clear();
        Tier.ReadMany(keys, destination, ok);
        for (int i = 0; i < keys.Length; i++)
        {
            Interlocked.Increment(ref ok[i] ? ref _hits : ref _misses);
            if (!StoreManaged) lock (_lock) { if (ok[i]) _policy.Hit(keys[i]); else _policy.Remove(keys[i]); }
        }
    }
    /// <summary>Reads a block (any thread); a failed read is a counted miss and forgets the key.</summary>
    public bool TryRead(BlockHash key, Span<byte> destination)
    {
        if (Tier.TryRead(key, destination))
        {
            Interlocked.Increment(ref _hits);
            if (!StoreManaged) lock (_lock) _policy.Hit(key);
            return true;
        }
        Interlocked.Increment(ref _misses);
        if (!StoreManaged) lock (_lock) _policy.Remove(key);
        return false;
    }

    /// <summary>Keeps a key from eviction while it is being loaded (allocating room for it may push other blocks here).</summary>
    public void Pin(BlockHash key)
    {
        if (!StoreManaged) lock (_lock) _policy.Pin(key);
    }

    public void Unpin(BlockHash key)
    {
        if (!StoreManaged) lock (_lock) _policy.Unpin(key);
    }

    /// <summary>Stores a copy of a block: now for a memory tier, through the background queue for a slow one.</summary>
    public void Put(BlockHash key, ReadOnlySpan<byte> bytes)
    {
        // A remote store is not asked first: that would be a round trip on the engine's thread.
        if (!StoreManaged && Tier.Contains(key)) return;
        if (_queue is null)
        {
            Store(key, bytes);
            return;
        }
        var copy = ArrayPool<byte>.Shared.Rent(Math.Max(bytes.Length, 1));
        bytes.CopyTo(copy);
        Interlocked.Increment(ref _pending);
        if (!_queue.TryAdd((key, copy)))
        {
            Interlocked.Decrement(ref _pending);
            ArrayPool<byte>.Shared.Return(copy);
            Interlocked.Increment(ref _dropped);
        }
    }

    private void Store(BlockHash key, ReadOnlySpan<byte> bytes)
    {
        // Decide under the lock, do the device work outside it: the engine thread takes this lock to pin and count
        // blocks, and must never wait for a write to reach the disk.
        if (StoreManaged)
        {
            // The store evicts and expires; writing a block another process already wrote replaces it with the same bytes.
            Interlocked.Increment(ref Tier.TryWrite(key, bytes[.._blockBytes]) ? ref _writes : ref _writeFailures);
            return;
        }
        List<BlockHash>? victims = null;
        lock (_lock)
        {
            if (Tier.Contains(key)) return;
            while (_policy.Count >= Capacity && _policy.TryEvict(out var victim)) (victims ??= new()).Add(victim);
        }
        if (victims is not null) foreach (var v in victims) Evict(v);
        bool written = Tier.TryWrite(key, bytes.Length == 0 ? bytes : bytes[.._blockBytes]);
        lock (_lock)
        {
            // Only this level's one writer stores, and it checked the key above: no one admitted it meanwhile.
            if (written) _policy.Admit(key);
        }
        Interlocked.Increment(ref written ? ref _writes : ref _writeFailures);
    }

    private void Evict(BlockHash victim)
    {
        Interlocked.Increment(ref _evictions);
        if (CascadeEvictions && Below is { } below && (below.StoreManaged || !below.Contains(victim)))
        {
            var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(_blockBytes, 1));
            if (Tier.TryRead(victim, buffer.AsSpan(0, _blockBytes))) below.Put(victim, buffer.AsSpan(0, _blockBytes));
            ArrayPool<byte>.Shared.Return(buffer);
        }
        Tier.Remove(victim);
    }

    /// <summary>Waits until queued writes are stored (or the timeout passes); true when none are left.</summary>
    public bool Flush(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Volatile.Read(ref _pending) > 0)
        {
            if (DateTime.UtcNow > deadline) return false;
            Thread.Sleep(1);
        }
        return true;
    }

    private void WriteLoop()
    {
        foreach (var (key, bytes) in _queue!.GetConsumingEnumerable())
        {
            try
            {
                Store(key, bytes.AsSpan(0, Math.Min(bytes.Length, _blockBytes)));
            }
            catch (Exception)
            {
                // A tier reports its own failures; nothing a write does may take the process down.
                Interlocked.Increment(ref _writeFailures);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(bytes);
                Interlocked.Decrement(ref _pending);
            }
        }
    }

    public void Dispose()
    {
        if (_queue is not null)
        {
            _queue.CompleteAdding();
            _writer!.Join(TimeSpan.FromSeconds(30));
        }
        Tier.Dispose();
    }
}
