using System.Globalization;
using Strata.Kv.Tiers;

namespace Strata.Tests.Kv;

public unsafe class NumaMemoryTests
{
    private const int Page = 4096;

    // Whether any mapping in /proc/self/maps covers the address: observes that munmap really happened.
    private static bool IsMapped(void* p)
    {
        ulong a = (ulong)p;
        foreach (string line in File.ReadLines("/proc/self/maps"))
        {
            string[] range = line.Split(' ')[0].Split('-');
            ulong lo = ulong.Parse(range[0], NumberStyles.HexNumber), hi = ulong.Parse(range[1], NumberStyles.HexNumber);
            if (a >= lo && a < hi) return true;
        }
        return false;
    }

    private static long RssBytes() => long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:"))
        .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;

    [Fact]
    public void MemoryBoundToNodeZeroIsPlacedThere()
    {
        if (!NumaMemory.IsSupported) return;
        const long bytes = 4 << 20;
        byte* p;
        using (var region = NativeRegion.Allocate(bytes, numaNode: 0))
        {
            p = region.Pointer;
            Assert.Equal(0, region.Node);
            Assert.Equal(bytes, region.Length);
            Assert.Equal(0ul, (ulong)p % 64);
            for (long off = 0; off < bytes; off += Page) p[off] = (byte)(off / Page);   // commit every page
            foreach (long page in new long[] { 0, 1, 511, 512, 1023 })
                Assert.Equal(0, NumaMemory.NodeOfAddress(p + page * Page));
            Assert.Equal((byte)(1023 & 0xff), region.Slice(1023L * Page, 1)[0]);
            Assert.True(IsMapped(p));
        }
        Assert.False(IsMapped(p));
    }

    [Fact]
    public void PlainMemoryIsZeroedTouchableAndFreed()
    {
        if (!NumaMemory.IsSupported) return;
        const nuint bytes = 1 << 20;
        byte* p = (byte*)NumaMemory.AllocatePlain(bytes);
        var span = new Span<byte>(p, (int)bytes);
        Assert.True(span.IndexOfAnyExcept((byte)0) < 0);
        span.Fill(0xab);
        Assert.InRange(NumaMemory.NodeOfAddress(p), 0, 1023);
        NumaMemory.Free(p, bytes);
        Assert.False(IsMapped(p));
    }

    [Fact]
    public void BindingToAMissingNodeFailsWithAClearMessage()
    {
        if (!NumaMemory.IsSupported || Directory.Exists("/sys/devices/system/node/node63")) return;
        var e = Assert.Throws<StrataException>(() => NativeRegion.Allocate(4 << 20, numaNode: 63));
        Assert.StartsWith("cannot bind 4194304 bytes to NUMA node 63", e.Message);
        Assert.Contains("Invalid argument", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        var range = Assert.Throws<StrataException>(() => NativeRegion.Allocate(4 << 20, numaNode: 5000));
        Assert.Equal("NUMA node 5000 is out of range [0, 1024)", range.Message);
        Assert.Throws<StrataException>(() => (nint)NumaMemory.AllocateOnNode(4096, -1));
    }

    [Fact]
    public void LargeRegionsAreCommittedLazily()
    {
        if (!NumaMemory.IsSupported) return;
        long before = RssBytes();
        using var region = NativeRegion.Allocate(1L << 30, numaNode: 0);
        Assert.InRange(RssBytes() - before, long.MinValue, 64L << 20);   // 1 GiB reserved, almost none resident
        region.Slice((1L << 30) - 8, 8).Fill(7);
        Assert.Equal(7, region.Pointer[(1L << 30) - 1]);
    }

    [Fact]
    public void SlicesStayInsideTheRegionAndDisposedRegionsRefuseAccess()
    {
        var region = NativeRegion.Allocate(10_000, numaNode: null);
        Assert.Null(region.Node);
        region.Slice(9_996, 4).Fill(3);
        Assert.Equal(3, region.Pointer[9_999]);
        Assert.Equal(0, region.Pointer[9_995]);
        Assert.Throws<ArgumentOutOfRangeException>(() => region.Slice(9_997, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => region.Slice(-1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => region.Slice(0, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => NativeRegion.Allocate(0, null));
        region.Dispose();
        region.Dispose();   // idempotent
        Assert.Throws<ObjectDisposedException>(() => (nint)region.Pointer);
    }
}
