namespace Strata.Kv.Tiers;

/// <summary>
/// One tier below the DRAM working pool (far memory, SSD, later a remote store or an accelerator): a byte store of
/// whole blocks keyed by their <see cref="BlockHash"/>. Capacity and eviction are decided above it
/// (<see cref="KvTierLevel"/>), so a tier only stores, finds, reads and deletes. Implementations are thread-safe.
/// </summary>
public interface IKvTier : IDisposable
{
    /// <summary>The name used in options and statistics: "far", "ssd".</summary>
    string Name { get; }

    /// <summary>One line saying what backs the tier (a NUMA node, a directory, direct or buffered I/O).</summary>
    string Describe();

    /// <summary>True when reads and writes block on a device: writes then go through a background queue.</summary>
    bool IsSlow { get; }

    /// <summary>True when blocks outlive the process (ssd, remote): write-through writes every completed block here.</summary>
    bool Persistent { get; }

    bool Contains(BlockHash key);

    /// <summary>Keys present when the tier opened (an SSD directory from an earlier run), for the policy to learn.</summary>
    IReadOnlyCollection<BlockHash> Keys { get; }

    /// <summary>Copies a block into <paramref name="destination"/> (its <see cref="KvLayout.BlockBytes"/>). False when
    /// the block is absent or fails its checks (corrupt, truncated, foreign): a miss, never data.</summary>
    bool TryRead(BlockHash key, Span<byte> destination);

    /// <summary>Stores a block; false when it could not be stored (out of space, an I/O error).</summary>
    bool TryWrite(BlockHash key, ReadOnlySpan<byte> source);

    void Remove(BlockHash key);
}
