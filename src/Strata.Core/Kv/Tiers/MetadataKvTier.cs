namespace Strata.Kv.Tiers;

/// <summary>A tier that remembers which blocks it holds and stores no bytes: trace replay runs the real cache on it.</summary>
public sealed class MetadataKvTier(string name, bool persistent) : IKvTier
{
    private readonly HashSet<BlockHash> _keys = new();

    public string Name { get; } = name;
    public bool IsSlow => false;
    /// <summary>Whether the tier stands for a device (so write-through targets it) though it stores nothing.</summary>
    public bool Persistent { get; } = persistent;
    public IReadOnlyCollection<BlockHash> Keys => [];
    public string Describe() => $"{Name}: metadata only";
    public bool Contains(BlockHash key) => _keys.Contains(key);
    public bool TryRead(BlockHash key, Span<byte> destination) => _keys.Contains(key);
    public bool TryWrite(BlockHash key, ReadOnlySpan<byte> source) { _keys.Add(key); return true; }
    public void Remove(BlockHash key) => _keys.Remove(key);
    public void Dispose() { }
}
