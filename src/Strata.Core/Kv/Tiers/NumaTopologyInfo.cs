using System.Globalization;

namespace Strata.Kv.Tiers;

/// <summary>The NUMA nodes found on this machine (ordered by id) and the choice of a node for the far KV tier.</summary>
public sealed record NumaTopologyInfo(IReadOnlyList<NumaNode> Nodes)
{
    public NumaNode? Node(int id) => Nodes.FirstOrDefault(n => n.Id == id);

    /// <summary>
    /// The node the far tier should bind to. <paramref name="requested"/> (--kv-far-node) must name a node with
    /// memory. Otherwise the CPU-less node with memory (how CXL far memory appears) in the slowest memory tier,
    /// then the largest, then the lowest id; null when there is none, so the far tier stays a plain DRAM pool.
    /// </summary>
    public NumaNode? PickFarNode(int? requested)
    {
        if (requested is int id)
        {
            var node = Node(id);
            if (node is { HasMemory: true }) return node;
            var withMemory = Nodes.Where(n => n.HasMemory).Select(n => n.Id.ToString(CultureInfo.InvariantCulture)).ToList();
            string available = withMemory.Count == 0 ? "none found" : string.Join(", ", withMemory);
            string what = node is null ? "does not exist" : "has no memory";
            throw new StrataException($"--kv-far-node {id}: NUMA node {id} {what}; nodes with memory: {available}");
        }
        // A node with no known tier ranks below every known tier: without tiers we know nothing about its speed.
        return Nodes.Where(n => !n.HasCpus && n.HasMemory)
            .OrderByDescending(n => n.MemoryTier ?? int.MinValue)
            .ThenByDescending(n => n.MemoryBytes)
            .ThenBy(n => n.Id)
            .FirstOrDefault();
    }

    /// <summary>One line for the startup log: which node the far tier would use, or why none.</summary>
    public string Describe()
    {
        var far = PickFarNode(null);
        if (far is null) return "no CPU-less NUMA node: far tier is a separate DRAM pool";
        string tier = far.MemoryTier is int t ? $", memory tier {t.ToString(CultureInfo.InvariantCulture)}" : "";
        return $"far memory: NUMA node {far.Id} (CXL-like: no CPUs, {Gib(far.MemoryBytes)}{tier})";
    }

    private static string Gib(long bytes) => bytes >= 1L << 30
        ? (bytes / (double)(1L << 30)).ToString("0.#", CultureInfo.InvariantCulture) + " GiB"
        : (bytes >> 20).ToString(CultureInfo.InvariantCulture) + " MiB";
}
