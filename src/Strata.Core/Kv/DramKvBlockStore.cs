using System.Runtime.InteropServices;

namespace Strata.Kv;

/// <summary>
/// KV blocks in one aligned native allocation in DRAM (outside the GC heap, so it never moves). The memory is not
/// cleared: the OS hands out zero pages on first touch, so a large pool costs only what is used.
/// </summary>
public sealed unsafe class DramKvBlockStore : IKvBlockStore
{
    private byte* _memory;

    public DramKvBlockStore(KvLayout layout, int capacity)
    {
        if (capacity <= 0) throw new ArgumentOutOfRangeException(nameof(capacity));
        Layout = layout;
        Capacity = capacity;
        _memory = (byte*)NativeMemory.AlignedAlloc((nuint)((long)layout.BlockBytes * capacity), 4096);
    }

    public KvLayout Layout { get; }
    public int Capacity { get; }

    public Span<byte> Block(int id)
    {
        if ((uint)id >= (uint)Capacity) throw new ArgumentOutOfRangeException(nameof(id), $"block {id} outside [0, {Capacity})");
        ObjectDisposedException.ThrowIf(_memory == null, this);
        return new Span<byte>(_memory + (long)id * Layout.BlockBytes, Layout.BlockBytes);
    }

    public void Dispose()
    {
        if (_memory == null) return;
        NativeMemory.AlignedFree(_memory);
        _memory = null;
    }
}
