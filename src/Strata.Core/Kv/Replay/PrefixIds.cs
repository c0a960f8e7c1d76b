using System.Runtime.InteropServices;

namespace Strata.Kv.Replay;

/// <summary>
/// Assigns chained-prefix block ids: a prefix trie keyed by (parent id, block content), so one id names a whole
/// prefix. The same content after a different prefix gets a different id, as it must: its KV differs.
/// Ids are dense, in order of first use.
/// </summary>
internal sealed class PrefixIds
{
    public const long Root = -1;
    private readonly Dictionary<(long Parent, ulong Content), long> _ids = new();

    public int Count => _ids.Count;

    public long Get(long parent, ulong content)
    {
        ref long id = ref CollectionsMarshal.GetValueRefOrAddDefault(_ids, (parent, content), out bool exists);
        if (!exists) id = _ids.Count - 1;
        return id;
    }
}
