namespace Strata.Kv;

/// <summary>
/// Storage for the DRAM pool's blocks, addressed by id: the one thing the forward pass needs from the cache. The
/// bytes of block <c>id</c> are laid out as <see cref="KvLayout"/> says.
/// </summary>
public interface IKvBlockStore : IDisposable
{
    KvLayout Layout { get; }

    /// <summary>Number of blocks the store holds.</summary>
    int Capacity { get; }

    Span<byte> Block(int id);
}
