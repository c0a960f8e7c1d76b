namespace Strata.Kv.Policies;

/// <summary>
/// Chooses which resident block of one tier to evict. The tier tells it what happens to its blocks; pinned blocks
/// (in use by a running sequence, or being read) are never chosen. Implementations allocate nothing once they have
/// held as many keys as the tier's capacity.
/// </summary>
public interface IEvictionPolicy<TKey> where TKey : notnull, IEquatable<TKey>
{
    string Name { get; }

    /// <summary>Resident keys, pinned or not.</summary>
    int Count { get; }

    /// <summary>A new key became resident (evictable unless <paramref name="pinned"/>).</summary>
    void Admit(TKey key, bool pinned = false);

    /// <summary>A resident key was found by a lookup.</summary>
    void Hit(TKey key);

    /// <summary>The key may not be evicted until <see cref="Unpin"/>.</summary>
    void Pin(TKey key);

    void Unpin(TKey key);

    /// <summary>The key left the tier by other means than eviction.</summary>
    void Remove(TKey key);

    /// <summary>Picks a victim among the unpinned keys and forgets it; false when every key is pinned.</summary>
    bool TryEvict(out TKey key);
}

public static class EvictionPolicies
{
    public const string Default = "s3fifo";
    public static readonly string[] Names = ["lru", "s3fifo", "arc"];

    /// <param name="capacity">Blocks the tier holds at most: sizes the policy's queues.</param>
    public static IEvictionPolicy<TKey> Create<TKey>(string name, int capacity) where TKey : notnull, IEquatable<TKey> =>
        name.ToLowerInvariant() switch
        {
            "lru" => new LruPolicy<TKey>(capacity),
            "s3fifo" or "s3-fifo" => new S3FifoPolicy<TKey>(capacity),
            "arc" => new ArcPolicy<TKey>(capacity),
            _ => throw new StrataException($"unknown eviction policy '{name}': use one of {string.Join(", ", Names)}"),
        };
}
