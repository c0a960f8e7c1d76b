using System.Globalization;
using Strata.Kv.Policies;
using Strata.Kv.Tiers;

namespace Strata.Kv;

/// <summary>When completed blocks are written to the ssd tier.</summary>
public enum KvWriteMode
{
    /// <summary>Every completed block is written in the background, so a restart or a crash finds it.</summary>
    Through,
    /// <summary>Blocks reach lower tiers only when evicted from the one above.</summary>
    Back,
}

/// <summary>Sizes and behaviour of the tiered KV cache, as <c>--kv-tiers</c>, <c>--kv-dir</c> and friends give them.</summary>
public sealed record KvCacheOptions
{
    /// <summary>Bytes of the DRAM working pool; 0 picks room for the running sequences plus a cache.</summary>
    public long DramBytes { get; init; }
    /// <summary>Bytes of far memory (a CPU-less NUMA node, or a separate DRAM pool); 0 means no far tier.</summary>
    public long FarBytes { get; init; }
    /// <summary>NUMA node for the far tier (<c>--kv-far-node</c>); null picks one.</summary>
    public int? FarNode { get; init; }
    /// <summary>Directory of the ssd tier; null means no ssd tier.</summary>
    public string? SsdDirectory { get; init; }
    /// <summary>Bytes of the ssd tier; 0 picks <see cref="DefaultSsdBytes"/> capped by the free space.</summary>
    public long SsdBytes { get; init; }
    /// <summary>Tiers built by a registered factory (<see cref="KvTierFactories"/>), slowest last: <c>remote=redis://…</c>.</summary>
    public IReadOnlyList<KvTierSpec> ExternalTiers { get; init; } = [];
    public string Policy { get; init; } = EvictionPolicies.Default;
    /// <summary>False turns prefix reuse off (every prompt computed in full): for measuring what the cache saves.</summary>
    public bool PrefixCaching { get; init; } = true;
    public KvWriteMode WriteMode { get; init; } = KvWriteMode.Through;
    /// <summary>Where the cache says something went wrong that costs only speed (once per kind of fault).</summary>
    public Action<string>? Warn { get; init; }

    public const long DefaultDramCacheBytes = 512L << 20;
    public const long DefaultSsdBytes = 32L << 30;

    /// <summary>
    /// Reads a tier list such as <c>dram=2GiB,far=8GiB,ssd=64GiB,remote=redis://127.0.0.1:6379</c> into this record
    /// (sizes in B, KiB, MiB, GiB, TiB, or KB/MB/GB/TB as powers of ten; a tier registered in
    /// <see cref="KvTierFactories"/> takes its own text). An ssd entry needs <paramref name="kvDir"/>.
    /// </summary>
    public KvCacheOptions WithTiers(string? spec, string? kvDir)
    {
        var o = this with { SsdDirectory = kvDir ?? SsdDirectory };
        if (string.IsNullOrWhiteSpace(spec)) return o;
        var seen = new HashSet<string>();
        foreach (var part in spec.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=');
            if (eq <= 0) throw new StrataException($"--kv-tiers: '{part}' should be TIER=SIZE (for example dram=2GiB)");
            string tier = part[..eq].Trim().ToLowerInvariant();
            if (!seen.Add(tier)) throw new StrataException($"--kv-tiers: tier '{tier}' is given twice");
            if (tier is not ("dram" or "far" or "ssd") && KvTierFactories.TryGet(tier, out var factory))
            {
                string value = part[(eq + 1)..].Trim();
                if (factory.Validate(value) is { } problem) throw new StrataException($"--kv-tiers {tier}: {problem}");
                o = o with { ExternalTiers = [.. o.ExternalTiers, new KvTierSpec(tier, value)] };
                continue;
            }
            long bytes = ParseSize(part[(eq + 1)..].Trim(), $"--kv-tiers {tier}");
            o = tier switch
            {
                "dram" => o with { DramBytes = bytes },
                "far" => o with { FarBytes = bytes },
                "ssd" => o with { SsdBytes = bytes },
                _ => throw new StrataException($"--kv-tiers: unknown tier '{tier}' (tiers: {string.Join(", ", ["dram", "far", "ssd", .. KvTierFactories.Names])})"),
            };
        }
        if (o.SsdBytes > 0 && o.SsdDirectory is null) throw new StrataException("--kv-tiers: the ssd tier needs a directory: add --kv-dir DIR");
        return o;
    }

    public static long ParseSize(string s, string what)
    {
        int i = 0;
        while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
        if (i == 0 || !double.TryParse(s[..i], NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
            throw new StrataException($"{what}: '{s}' is not a size (for example 512MiB, 2GiB, 64GB)");
        double unit = s[i..].Trim().ToLowerInvariant() switch
        {
            "" or "b" => 1,
            "k" or "kib" => 1L << 10, "m" or "mib" => 1L << 20, "g" or "gib" => 1L << 30, "t" or "tib" => 1L << 40,
            "kb" => 1e3, "mb" => 1e6, "gb" => 1e9, "tb" => 1e12,
            var u => throw new StrataException($"{what}: unknown unit '{u}' in '{s}' (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"),
        };
        double bytes = value * unit;
        if (bytes <= 0 || bytes > 1e15) throw new StrataException($"{what}: {s} is out of range");
        return (long)bytes;
    }
}
