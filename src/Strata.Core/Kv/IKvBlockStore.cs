namespace Strata.Kv;

/// <summary>
/// Storage for KV blocks addressed by id: the one thing the forward pass needs from the cache. DRAM implements it
/// today; far memory, SSD and remote tiers implement it (or sit behind one that does) without touching the model.
/// </summary>
public interface IKvBlockStore : IDisposable
{
    KvLayout Layout { get; }

    /// <summary>Number of blocks the store holds.</summary>
    int Capacity { get; }

    /// <summary>The f16 elements of block <paramref name="id"/>, laid out as <see cref="KvLayout"/> says.</summary>
    Span<Half> Block(int id);
}
