using Strata.Kv.Tiers;
using Strata.Tests.Support;

namespace Strata.Tests.Kv;

public class NumaTests
{
    private const long Gib = 1L << 30;

    /// <summary>Writes a fake sysfs tree: only the files a test names exist.</summary>
    private sealed class FakeSys : IDisposable
    {
        private readonly TempDir _dir = new();
        public string Root => _dir.Path;

        public FakeSys Node(int id, string? cpulist, long? memKb, string? distance = null)
        {
            string dir = $"devices/system/node/node{id}";
            Directory.CreateDirectory(System.IO.Path.Combine(Root, dir));
            if (cpulist is not null) File($"{dir}/cpulist", cpulist + "\n");
            if (memKb is long kb) File($"{dir}/meminfo", $"Node {id} MemTotal:       {kb} kB\nNode {id} MemFree:        {kb / 2} kB\n");
            if (distance is not null) File($"{dir}/distance", distance + "\n");
            return this;
        }

        public FakeSys Tier(int tier, string nodelist) => File($"devices/virtual/memory_tiering/memory_tier{tier}/nodelist", nodelist + "\n");

        public FakeSys File(string relative, string text)
        {
            string path = System.IO.Path.Combine(Root, relative);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
            System.IO.File.WriteAllText(path, text);
            return this;
        }

        public NumaTopologyInfo Detect() => NumaTopology.Detect(Root);
        public void Dispose() => _dir.Dispose();
    }

    [Fact]
    public void TwoSocketBoxHasNoFarNode()
    {
        using var sys = new FakeSys()
            .Node(0, "0-7", 64L << 20, "10 21").Node(1, "8-15", 64L << 20, "21 10")
            .File("devices/system/node/has_cpu", "0-1").File("devices/system/node/has_memory", "0-1")
            .Tier(4, "0-1");
        var topo = sys.Detect();
        Assert.Equal([0, 1], topo.Nodes.Select(n => n.Id));
        Assert.All(topo.Nodes, n => { Assert.True(n.HasCpus); Assert.Equal(64 * Gib, n.MemoryBytes); Assert.Equal(4, n.MemoryTier); });
        Assert.Equal([21, 10], topo.Nodes[1].Distances);
        Assert.Null(topo.PickFarNode(null));
        Assert.Equal("no CPU-less NUMA node: far tier is a separate DRAM pool", topo.Describe());
    }

    [Fact]
    public void CpuLessNodeInTheSlowestTierIsPickedOverABiggerFasterOne()
    {
        // Node 1 is CPU-less but DRAM-speed (tier 4) and bigger; node 2 is the CXL node in tier 5.
        using var sys = new FakeSys()
            .Node(0, "0-3", 32L << 20, "10 20 30").Node(1, "", 256L << 20, "20 10 30").Node(2, "", 128L << 20, "30 30 10")
            .File("devices/system/node/has_cpu", "0").File("devices/system/node/has_memory", "0-2")
            .Tier(4, "0-1").Tier(5, "2");
        var topo = sys.Detect();
        Assert.False(topo.Nodes[2].HasCpus);
        Assert.Equal(5, topo.Nodes[2].MemoryTier);
        Assert.Equal(2, topo.PickFarNode(null)?.Id);
        Assert.Equal("far memory: NUMA node 2 (CXL-like: no CPUs, 128 GiB, memory tier 5)", topo.Describe());
    }

    [Fact]
    public void TiesGoToTheLargestNodeThenTheLowestId()
    {
        using var sys = new FakeSys()
            .Node(0, "0-3", 32L << 20).Node(1, "", 16L << 20).Node(2, "", 64L << 20).Node(3, "", 64L << 20)
            .Tier(4, "0").Tier(6, "1-3");
        Assert.Equal(2, sys.Detect().PickFarNode(null)?.Id);
    }

    [Fact]
    public void WithoutMemoryTiersACpuLessNodeIsStillFoundFromCpulistAndMeminfo()
    {
        // An older kernel: no memory_tiering, no has_cpu/has_memory; the per-node files decide.
        using var sys = new FakeSys().Node(0, "0-1", 8L << 20).Node(1, "\n", 512L << 10);
        var far = sys.Detect().PickFarNode(null);
        Assert.Equal(1, far?.Id);
        Assert.Null(far?.MemoryTier);
        Assert.Equal("far memory: NUMA node 1 (CXL-like: no CPUs, 512 MiB)", sys.Detect().Describe());
    }

    [Fact]
    public void SingleNodeAndMemorylessNodesGiveNoFarNode()
    {
        using (var one = new FakeSys().Node(0, "0-1", 8L << 20).Tier(4, "0"))
            Assert.Null(one.Detect().PickFarNode(null));
        // A CPU-less node the kernel says has no memory (its meminfo still claims some): not a far tier.
        using var memoryless = new FakeSys().Node(0, "0-1", 8L << 20).Node(1, "", 8L << 20)
            .File("devices/system/node/has_memory", "0");
        var topo = memoryless.Detect();
        Assert.Equal(0, topo.Nodes[1].MemoryBytes);
        Assert.Null(topo.PickFarNode(null));
    }

    [Fact]
    public void MalformedFilesAreTreatedAsAbsent()
    {
        using var sys = new FakeSys()
            .Node(0, "0-3", 8L << 20, "10 zz")
            .Node(1, "", null, "10")
            .File("devices/system/node/node1/meminfo", "Node 1 MemTotal: lots kB\n")
            .Node(2, "7-2", null)                                        // reversed range: unknown CPUs
            .File("devices/system/node/node2/meminfo", "Node 2 MemTotal: 99999999999999999999 kB\n")
            .File("devices/system/node/has_cpu", "what")                  // unreadable list: fall back to cpulist
            .File("devices/system/node/nodeX/cpulist", "0")
            .File("devices/virtual/memory_tiering/memory_tierX/nodelist", "0")
            .Tier(4, "0,,")
            .Tier(5, "1-");
        var topo = sys.Detect();
        Assert.Equal([0, 1, 2], topo.Nodes.Select(n => n.Id));
        Assert.True(topo.Nodes[0].HasCpus);
        Assert.Empty(topo.Nodes[0].Distances);
        Assert.Equal(4, topo.Nodes[0].MemoryTier);
        Assert.Equal(0, topo.Nodes[1].MemoryBytes);
        Assert.Null(topo.Nodes[1].MemoryTier);
        Assert.False(topo.Nodes[2].HasCpus);
        Assert.Equal(0, topo.Nodes[2].MemoryBytes);
        Assert.Null(topo.PickFarNode(null));

        var nothing = NumaTopology.Detect(System.IO.Path.Combine(sys.Root, "missing"));
        Assert.Empty(nothing.Nodes);
        Assert.Null(nothing.PickFarNode(null));
    }

    [Theory]
    [InlineData("0-1,3", new[] { 0, 1, 3 })]
    [InlineData("5\n", new[] { 5 })]
    [InlineData("", new int[0])]
    [InlineData("\n", new int[0])]
    public void NodeListsParse(string text, int[] expected) => Assert.Equal(expected, NumaTopology.ParseList(text));

    [Theory]
    [InlineData("1-")]
    [InlineData("-1")]
    [InlineData("a")]
    [InlineData("3-1")]
    [InlineData("+2")]
    public void MalformedNodeListsAreRejected(string text) => Assert.Null(NumaTopology.ParseList(text));

    [Fact]
    public void RequestedNodeIsUsedWhenItHasMemoryAndNamedWhenNot()
    {
        using var sys = new FakeSys().Node(0, "0-3", 8L << 20).Node(1, "", 16L << 20).Node(2, "", 0).Tier(4, "0").Tier(5, "1");
        var topo = sys.Detect();
        Assert.Equal(0, topo.PickFarNode(0)?.Id);   // the user may choose a node with CPUs
        Assert.Equal(1, topo.PickFarNode(1)?.Id);

        var missing = Assert.Throws<StrataException>(() => topo.PickFarNode(7));
        Assert.Equal("--kv-far-node 7: NUMA node 7 does not exist; nodes with memory: 0, 1", missing.Message);
        var empty = Assert.Throws<StrataException>(() => topo.PickFarNode(2));
        Assert.Equal("--kv-far-node 2: NUMA node 2 has no memory; nodes with memory: 0, 1", empty.Message);
        var none = Assert.Throws<StrataException>(() => NumaTopology.Detect(System.IO.Path.Combine(sys.Root, "missing")).PickFarNode(0));
        Assert.Contains("none found", none.Message);
    }

    [Fact]
    public void ThisMachinesTopologyParses()
    {
        const string nodeRoot = "/sys/devices/system/node";
        if (!OperatingSystem.IsLinux() || !Directory.Exists(nodeRoot + "/node0")) return;
        var topo = NumaTopology.Detect();
        var node0 = topo.Node(0);
        Assert.NotNull(node0);
        Assert.Contains(topo.Nodes, n => n.HasCpus);           // we are running on one
        Assert.True(node0.MemoryBytes > 0);
        if (node0.Distances.Count > 0) Assert.Equal(10, node0.Distances[0]);  // SLIT: local distance is 10
        // Every node with memory sits in some tier when the kernel has memory tiering (DRAM in tier 4 by default).
        if (Directory.Exists("/sys/devices/virtual/memory_tiering"))
            Assert.All(topo.Nodes.Where(n => n.HasMemory), n => Assert.NotNull(n.MemoryTier));
        if (topo.Nodes.Count == 1) Assert.Null(topo.PickFarNode(null));
        Assert.DoesNotContain('\n', topo.Describe());
    }
}
