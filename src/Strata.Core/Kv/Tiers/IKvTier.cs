namespace Strata.Kv.Tiers;

/// <summary>Where <see cref="IKvTier.ReadMany"/> puts block <paramref name="index"/> of its batch.</summary>
public delegate Span<byte> BlockDestination(int index);

/// <summary>
/// One tier below the DRAM working pool (far memory, SSD, a remote store, later an accelerator): a byte store of
/// whole blocks keyed by their <see cref="BlockHash"/>. Capacity and eviction are decided above it
/// (<see cref="KvTierLevel"/>), so a tier only stores, finds, reads and deletes. Implementations are thread-safe.
/// </summary>
public interface IKvTier : IDisposable
{
    /// <summary>The name used in options and statistics: "far", "ssd", "remote".</summary>
    string Name { get; }

    /// <summary>One line saying what backs the tier (a NUMA node, a directory, direct or buffered I/O, a store's address).</summary>
    string Describe();

    /// <summary>True when reads and writes block on a device: writes then go through a background queue.</summary>
    bool IsSlow { get; }

    /// <summary>True when blocks outlive the process (ssd, remote): write-through writes every completed block here.</summary>
    bool Persistent { get; }

    /// <summary>
    /// True for a store shared over the network (the remote tier): every question is a round trip, so the cache asks
    /// only in batches (<see cref="CountLeading"/>, <see cref="ReadMany"/>) and on reader threads, never on the
    /// engine's thread, and leaves capacity and expiry to the store (other processes write and read it too).
    /// </summary>
    bool IsRemote => false;

    bool Contains(BlockHash key);

    /// <summary>Keys present when the tier opened (an SSD directory from an earlier run), for the policy to learn.</summary>
    IReadOnlyCollection<BlockHash> Keys { get; }

    /// <summary>Copies a block into <paramref name="destination"/> (its <see cref="KvLayout.BlockBytes"/>). False when
    /// the block is absent or fails its checks (corrupt, truncated, foreign): a miss, never data.</summary>
    bool TryRead(BlockHash key, Span<byte> destination);

    /// <summary>Stores a block; false when it could not be stored (out of space, an I/O error).</summary>
    bool TryWrite(BlockHash key, ReadOnlySpan<byte> source);

    void Remove(BlockHash key);

    /// <summary>
    /// How many of <paramref name="keys"/>, from the first, the tier holds (a prefix stops at its first gap). A remote
    /// store answers all of them in one round trip; this default asks one by one.
    /// </summary>
    int CountLeading(ReadOnlySpan<BlockHash> keys)
    {
        int n = 0;
        while (n < keys.Length && Contains(keys[n])) n++;
        return n;
    }

    /// <summary>
    /// Reads every key into <paramref name="destination"/>(i), setting <paramref name="ok"/>[i] as <see cref="TryRead"/>
    /// would answer. A remote store reads them in one round trip; this default reads one by one.
    /// </summary>
    void ReadMany(ReadOnlySpan<BlockHash> keys, BlockDestination destination, Span<bool> ok)
    {
        for (int i = 0; i < keys.Length; i++) ok[i] = TryRead(keys[i], destination(i));
    }
}

/// <summary>
/// What a tier that can fail without failing a request reports (the remote tier): values that failed their check,
/// operations that failed or timed out, and whether it is being used at all right now (a circuit breaker).
/// </summary>
public interface IKvTierHealth
{
    /// <summary>Values that failed their version, identity or checksum check (each a miss).</summary>
    long CorruptBlocks { get; }

    /// <summary>Operations that failed, timed out, or were skipped while the tier was unavailable.</summary>
    long Errors { get; }

    /// <summary>False while the tier is skipped after failures (every lookup a miss, every write dropped).</summary>
    bool Available { get; }
}
