using Strata.Gguf;
using Strata.Kv.Tiers;
using Strata.Models;

namespace Strata.Kv;

/// <summary>Builds the tiered cache a loaded model uses from <see cref="KvCacheOptions"/>.</summary>
public static class KvCacheBuilder
{
    /// <param name="minimumDramBlocks">Blocks the running sequences need at once: DRAM may not be smaller.</param>
    public static KvCacheManager Build(GgufFile file, ModelConfig config, KvLayout layout, KvCacheOptions o, int minimumDramBlocks, string modelName)
    {
        var fingerprint = ModelFingerprint.Compute(file, config, layout);
        int blockBytes = layout.BlockBytes;
        int dramBlocks;
        if (o.DramBytes > 0)
        {
            long asked = o.DramBytes / blockBytes;
            if (asked < minimumDramBlocks)
                throw new StrataException($"--kv-tiers dram={o.DramBytes >> 20}MiB holds {asked} blocks of {blockBytes >> 10} KiB; the context needs {minimumDramBlocks} (raise dram or lower -c)");
            dramBlocks = (int)Math.Min(asked, int.MaxValue / 2);
        }
        else dramBlocks = (int)Math.Max(minimumDramBlocks, Math.Min(KvCacheOptions.DefaultDramCacheBytes / blockBytes, int.MaxValue / 2));

        var levels = new List<KvTierLevel>();
        DramKvBlockStore? store = null;
        try
        {
            store = new DramKvBlockStore(layout, dramBlocks);
            if (o.FarBytes > 0)
            {
                long blocks = o.FarBytes / blockBytes;
                if (blocks < 1) throw new StrataException($"--kv-tiers far={o.FarBytes} bytes is smaller than one block ({blockBytes} bytes)");
                var topology = NumaTopology.Detect();
                var node = topology.PickFarNode(o.FarNode);
                string where = node is null
                    ? "a separate DRAM pool (no CPU-less NUMA node on this machine)"
                    : $"NUMA node {node.Id} ({(node.HasCpus ? "has CPUs" : "no CPUs: CXL-like far memory")}{(node.MemoryTier is int t ? $", memory tier {t}" : "")})";
                var far = new MemoryKvTier("far", blockBytes, (int)Math.Min(blocks, int.MaxValue / 2), where,
                    node is not null && NumaMemory.IsSupported ? node.Id : null);
                levels.Add(new KvTierLevel(far, far.CapacityBlocks, o.Policy, blockBytes));
            }
            if (o.SsdDirectory is { } dir)
            {
                var ssd = new SsdKvTier(dir, fingerprint, layout, modelName, o.Warn);
                long bytes = o.SsdBytes > 0 ? o.SsdBytes : DefaultSsdBytes(dir);
                levels.Add(new KvTierLevel(ssd, Math.Max(1, bytes / KvBlockFile.FileBytes(blockBytes)), o.Policy, blockBytes));
            }
            foreach (var spec in o.ExternalTiers)
            {
                if (!KvTierFactories.TryGet(spec.Name, out var factory)) throw new StrataException($"--kv-tiers: unknown tier '{spec.Name}'");
                var tier = factory.Create(spec.Value, new KvTierContext(fingerprint, layout, modelName, o.Warn ?? (_ => { })));
                levels.Add(new KvTierLevel(tier, 0, o.Policy, blockBytes));
            }
            var pool = new KvBlockPool(layout, dramBlocks, store, o.Policy);
            return new KvCacheManager(layout, fingerprint, pool, levels, o.WriteMode, store) { PrefixCaching = o.PrefixCaching };
        }
        catch
        {
            foreach (var l in levels) l.Dispose();
            store?.Dispose();
            throw;
        }
    }

    /// <summary>The default ssd capacity: <see cref="KvCacheOptions.DefaultSsdBytes"/>, at most half the free space.</summary>
    private static long DefaultSsdBytes(string dir)
    {
        try
        {
            long free = new DriveInfo(Path.GetFullPath(dir)).AvailableFreeSpace;
            return Math.Max(64L << 20, Math.Min(KvCacheOptions.DefaultSsdBytes, free / 2));
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return KvCacheOptions.DefaultSsdBytes;
        }
    }
}
