using Strata.Kv.Replay;

namespace Strata.Tests.Kv;

/// <summary>Finds the public Mooncake trace and checks properties every trace of chained-prefix ids has.</summary>
internal static class ReplayTraces
{
    public const string PublicTrace = "shared/traces/mooncake-synthetic.jsonl";

    /// <summary>
    /// Walks up from the test binaries to a folder holding shared/traces (CI puts shared/ beside the clone), then
    /// tries /work. A missing trace fails the test: skipping would hide a broken CI layout.
    /// </summary>
    public static string PublicTracePath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, PublicTrace);
            if (File.Exists(candidate)) return candidate;
        }
        string work = Path.Combine("/work", PublicTrace);
        if (File.Exists(work)) return work;
        Assert.Fail($"The public trace {PublicTrace} was not found in any folder above {AppContext.BaseDirectory} nor in /work; put shared/ beside the clone.");
        return "";
    }

    private static IReadOnlyList<TraceRequest>? _public;
    public static IReadOnlyList<TraceRequest> Public => _public ??= MooncakeTrace.Read(PublicTracePath());

    /// <summary>
    /// Chained-prefix ids: one id always has the same parent and sits at the same block index, and ids are
    /// numbered densely in order of first use.
    /// </summary>
    public static void AssertChained(IReadOnlyList<TraceRequest> trace)
    {
        var parent = new Dictionary<long, long>();
        long nextNew = 0;
        foreach (var r in trace)
        {
            Assert.Equal((r.InputLength + TraceGenerator.BlockTokens - 1) / TraceGenerator.BlockTokens, r.HashIds.Length);
            long previous = -1;
            foreach (long id in r.HashIds)
            {
                if (parent.TryGetValue(id, out long p)) Assert.Equal(p, previous);
                else
                {
                    Assert.Equal(nextNew++, id);
                    parent.Add(id, previous);
                }
                previous = id;
            }
        }
    }

    /// <summary>Plain LRU with the same prefix accounting and post-request insertion as Belady.</summary>
    public static double LruHitRate(IReadOnlyList<TraceRequest> trace, int capacity)
    {
        var order = new LinkedList<long>();
        var nodes = new Dictionary<long, LinkedListNode<long>>();
        long hits = 0, blocks = 0;
        foreach (var r in trace)
        {
            blocks += r.HashIds.Length;
            for (int i = 0; i < r.HashIds.Length && nodes.ContainsKey(r.HashIds[i]); i++) hits++;
            foreach (long id in r.HashIds)
            {
                if (nodes.Remove(id, out var node)) order.Remove(node);
                else if (nodes.Count == capacity)
                {
                    if (capacity == 0) continue;
                    nodes.Remove(order.First!.Value);
                    order.RemoveFirst();
                }
                nodes.Add(id, order.AddLast(id));
            }
        }
        return blocks == 0 ? 0 : (double)hits / blocks;
    }
}
