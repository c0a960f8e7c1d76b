namespace Strata.Kv.Replay;

/// <summary>
/// Interleaves the three generators on one id trie and one content-stream space (so their ids never collide),
/// merges them by timestamp, keeps the first requests, and renumbers ids densely in order of first use.
/// </summary>
internal static class MixedTraceBuilder
{
    public static IReadOnlyList<TraceRequest> Build(int requests, int seed, MixedOptions o)
    {
        if (o.MultiTurnShare < 0 || o.SharedSystemShare < 0 || o.RagShare < 0 || o.MultiTurnShare + o.SharedSystemShare + o.RagShare <= 0)
            throw new ArgumentOutOfRangeException(nameof(o), "Shares must be non-negative with a positive sum.");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.RequestsPerSecond, nameof(o.RequestsPerSecond));
        double sum = o.MultiTurnShare + o.SharedSystemShare + o.RagShare;
        double rate = o.RequestsPerSecond;
        var ctx = new GeneratorContext();
        var streams = new List<List<TraceRequest>>(3);
        // Each stream gets its own generator so one stream's draws never shift another's.
        if (o.MultiTurnShare > 0)
        {
            var mt = o.MultiTurn;
            // A uniformly random stop turn halves the abandoned conversations' turns on average.
            double turns = Math.Max(1, mt.MeanTurns * (1 - mt.AbandonFraction / 2));
            var t = new GeneratedTrace();
            MultiTurnGenerator.Generate(t, ctx, requests, new Random(Derive(seed, 1)),
                mt with { ConversationsPerSecond = rate * o.MultiTurnShare / sum / turns });
            streams.Add(t.Requests);
        }
        if (o.SharedSystemShare > 0)
        {
            var t = new GeneratedTrace();
            SharedSystemGenerator.Generate(t, ctx, requests, new Random(Derive(seed, 2)),
                o.SharedSystem with { RequestsPerSecond = rate * o.SharedSystemShare / sum });
            streams.Add(t.Requests);
        }
        if (o.RagShare > 0)
        {
            var t = new GeneratedTrace();
            RagGenerator.Generate(t, ctx, requests, new Random(Derive(seed, 3)),
                o.Rag with { RequestsPerSecond = rate * o.RagShare / sum });
            streams.Add(t.Requests);
        }
        return Renumber(Merge(streams, requests));
    }

    // Each stream holds `requests` requests at a fraction of the rate, so the first `requests` of the merge
    // always come from all streams; ties go to the earlier stream.
    private static List<TraceRequest> Merge(List<List<TraceRequest>> streams, int requests)
    {
        var merged = new List<TraceRequest>(requests);
        var next = new int[streams.Count];
        while (merged.Count < requests)
        {
            int best = -1;
            for (int s = 0; s < streams.Count; s++)
            {
                if (next[s] == streams[s].Count) continue;
                if (best < 0 || streams[s][next[s]].Timestamp < streams[best][next[best]].Timestamp) best = s;
            }
            if (best < 0) break;
            merged.Add(streams[best][next[best]++]);
        }
        return merged;
    }

    private static List<TraceRequest> Renumber(List<TraceRequest> requests)
    {
        var map = new Dictionary<long, long>();
        for (int i = 0; i < requests.Count; i++)
        {
            var r = requests[i];
            var ids = new long[r.HashIds.Length];
            for (int b = 0; b < ids.Length; b++)
            {
                if (!map.TryGetValue(r.HashIds[b], out long id)) map.Add(r.HashIds[b], id = map.Count);
                ids[b] = id;
            }
            requests[i] = r with { HashIds = ids };
        }
        return requests;
    }

    // Not HashCode.Combine: it is randomised per process, and traces must repeat across runs.
    private static int Derive(int seed, int stream) => unchecked(seed * 1_000_003 + stream * 7919);
}
