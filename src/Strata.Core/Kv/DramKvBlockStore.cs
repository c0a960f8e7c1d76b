using System.Runtime.InteropServices;

namespace Strata.Kv;

/// <summary>KV blocks in one aligned native allocation in DRAM (outside the GC heap, so it never moves).</summary>
public sealed unsafe class DramKvBlockStore : IKvBlockStore
{
    private Half* _memory;

    public DramKvBlockStore(KvLayout layout, int capacity)
    {
        if (capacity <= 0) throw new ArgumentOutOfRangeException(nameof(capacity));
        Layout = layout;
        Capacity = capacity;
        nuint bytes = (nuint)(layout.BlockBytes * capacity);
        _memory = (Half*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(_memory, bytes);
    }

    public KvLayout Layout { get; }
    public int Capacity { get; }

    public Span<Half> Block(int id)
    {
        if ((uint)id >= (uint)Capacity) throw new ArgumentOutOfRangeException(nameof(id), $"block {id} outside [0, {Capacity})");
        ObjectDisposedException.ThrowIf(_memory == null, this);
        return new Span<Half>(_memory + (long)id * Layout.BlockElements, Layout.BlockElements);
    }

    public void Dispose()
    {
        if (_memory == null) return;
        NativeMemory.AlignedFree(_memory);
        _memory = null;
    }
}
