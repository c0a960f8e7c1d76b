using System.Globalization;

namespace Strata.Kv.Tiers;

/// <summary>
/// Reads the NUMA layout from sysfs. The root is a parameter so tests can point it at a fake tree. A missing or
/// malformed file means "unknown" and never throws: a far tier that cannot see NUMA still works as a DRAM pool.
/// </summary>
public static class NumaTopology
{
    public static NumaTopologyInfo Detect(string sysRoot = "/sys")
    {
        string nodeRoot = Path.Combine(sysRoot, "devices", "system", "node");
        var ids = new SortedSet<int>();
        foreach (string dir in SafeDirectories(nodeRoot, "node*"))
            if (TryParseSuffix(Path.GetFileName(dir), "node", out int id)) ids.Add(id);

        // The summary lists are authoritative when present (the per-node files can lag hot-plug).
        var hasCpu = ReadNodeList(Path.Combine(nodeRoot, "has_cpu"));
        var hasMemory = ReadNodeList(Path.Combine(nodeRoot, "has_memory"));
        ids.UnionWith(hasCpu ?? []);
        ids.UnionWith(hasMemory ?? []);
        var tiers = ReadTiers(Path.Combine(sysRoot, "devices", "virtual", "memory_tiering"));

        var nodes = new List<NumaNode>();
        foreach (int id in ids)
        {
            string dir = Path.Combine(nodeRoot, "node" + id.ToString(CultureInfo.InvariantCulture));
            bool cpus = hasCpu?.Contains(id) ?? (ReadNodeList(Path.Combine(dir, "cpulist")) is { Count: > 0 });
            long memory = hasMemory is not null && !hasMemory.Contains(id) ? 0 : ReadMemTotal(Path.Combine(dir, "meminfo"), id);
            nodes.Add(new NumaNode(id, cpus, memory, tiers.TryGetValue(id, out int t) ? t : null, ReadDistances(Path.Combine(dir, "distance"))));
        }
        return new NumaTopologyInfo(nodes);
    }

    /// <summary>Parses a kernel node/cpu list ("0-1,3", blank = empty); null when malformed.</summary>
    internal static IReadOnlyList<int>? ParseList(string text)
    {
        var result = new List<int>();
        foreach (string raw in text.Trim().Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            string part = raw.Trim();
            int dash = part.IndexOf('-');
            string lo = dash < 0 ? part : part[..dash], hi = dash < 0 ? part : part[(dash + 1)..];
            if (!TryParseId(lo, out int a) || !TryParseId(hi, out int b) || b < a || b - a > 1 << 16) return null;
            for (int i = a; i <= b; i++) result.Add(i);
        }
        return result;
    }

    // memory_tierN/nodelist; walked in ascending N so a node listed twice (a broken tree) keeps its faster tier.
    private static Dictionary<int, int> ReadTiers(string tieringRoot)
    {
        var tierOf = new Dictionary<int, int>();
        var tiers = new SortedDictionary<int, string>();
        foreach (string dir in SafeDirectories(tieringRoot, "memory_tier*"))
            if (TryParseSuffix(Path.GetFileName(dir), "memory_tier", out int tier)) tiers[tier] = dir;
        foreach (var (tier, dir) in tiers)
            foreach (int node in ReadNodeList(Path.Combine(dir, "nodelist")) ?? [])
                tierOf.TryAdd(node, tier);
        return tierOf;
    }

    // "Node 0 MemTotal:        6252280 kB"; 0 when absent or unreadable.
    private static long ReadMemTotal(string path, int id)
    {
        string prefix = $"Node {id.ToString(CultureInfo.InvariantCulture)} MemTotal:";
        foreach (string line in (SafeRead(path) ?? "").Split('\n'))
        {
            if (!line.StartsWith(prefix, StringComparison.Ordinal)) continue;
            string[] rest = line[prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (rest.Length == 2 && rest[1] == "kB" && long.TryParse(rest[0], NumberStyles.None, CultureInfo.InvariantCulture, out long kb)
                && kb <= long.MaxValue / 1024)
                return kb * 1024;
            return 0;
        }
        return 0;
    }

    private static IReadOnlyList<int> ReadDistances(string path)
    {
        var result = new List<int>();
        foreach (string part in (SafeRead(path) ?? "").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int d)) return [];
            result.Add(d);
        }
        return result;
    }

    private static IReadOnlyList<int>? ReadNodeList(string path) => SafeRead(path) is string text ? ParseList(text) : null;

    private static bool TryParseSuffix(string name, string prefix, out int value)
    {
        value = 0;
        return name.StartsWith(prefix, StringComparison.Ordinal) && TryParseId(name[prefix.Length..], out value);
    }

    // Node ids are small non-negative integers; anything else (signs, spaces, huge numbers) is garbage.
    private static bool TryParseId(string s, out int value) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value < 1 << 20;

    private static string? SafeRead(string path)
    {
        try { return File.Exists(path) ? File.ReadAllText(path) : null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    private static IEnumerable<string> SafeDirectories(string root, string pattern)
    {
        try { return Directory.Exists(root) ? Directory.GetDirectories(root, pattern) : []; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }
}
