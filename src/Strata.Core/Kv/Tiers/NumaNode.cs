namespace Strata.Kv.Tiers;

/// <summary>
/// One NUMA node as sysfs describes it. <see cref="MemoryTier"/> is the kernel's memory tier number
/// (memory_tierN: a larger N is slower memory; DRAM sits in tier 4 by default), null when the kernel has none.
/// <see cref="Distances"/> is the node's row of the SLIT distance table (10 = local), empty when unreadable.
/// </summary>
public sealed record NumaNode(int Id, bool HasCpus, long MemoryBytes, int? MemoryTier, IReadOnlyList<int> Distances)
{
    public bool HasMemory => MemoryBytes > 0;
}
