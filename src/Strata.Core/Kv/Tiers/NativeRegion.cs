using System.Runtime.InteropServices;

namespace Strata.Kv.Tiers;

/// <summary>
/// An owned native region (page aligned, so 64-byte aligned) for the far tier's pool, optionally bound to a NUMA
/// node. The OS commits pages on first touch, so a large pool costs nothing until used. Must be disposed: it has
/// no finalizer, since freeing behind a live span would crash.
/// </summary>
public sealed unsafe class NativeRegion : IDisposable
{
    private byte* _pointer;
    private readonly void* _callocBase;   // non-null only off Linux, where calloc stands in for mmap

    private NativeRegion(byte* pointer, long length, int? node, void* callocBase = null)
    {
        _pointer = pointer;
        Length = length;
        Node = node;
        _callocBase = callocBase;
    }

    public static NativeRegion Allocate(long bytes, int? numaNode)
    {
        if (bytes <= 0) throw new ArgumentOutOfRangeException(nameof(bytes), $"region size {bytes} must be positive");
        if (numaNode is int node) return new((byte*)NumaMemory.AllocateOnNode((nuint)bytes, node), bytes, node);
        if (NumaMemory.IsSupported) return new((byte*)NumaMemory.AllocatePlain((nuint)bytes), bytes, null);
        // Elsewhere: calloc of a large size is fresh zero pages committed lazily, like anonymous mmap; align it by hand.
        void* raw = NativeMemory.AllocZeroed((nuint)bytes + 63);
        return new((byte*)(((nuint)raw + 63) & ~(nuint)63), bytes, null, raw);
    }

    public byte* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_pointer == null, this);
            return _pointer;
        }
    }

    public long Length { get; }

    /// <summary>The node the region is bound to; null for unbound memory.</summary>
    public int? Node { get; }

    public Span<byte> Slice(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset > Length - length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset}+{length}) outside the region of {Length} bytes");
        return new Span<byte>(Pointer + offset, length);
    }

    public void Dispose()
    {
        if (_pointer == null) return;
        if (_callocBase == null) NumaMemory.Free(_pointer, (nuint)Length);
        else NativeMemory.Free(_callocBase);
        _pointer = null;
    }
}
