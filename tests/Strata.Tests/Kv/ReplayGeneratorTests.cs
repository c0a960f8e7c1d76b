using Strata.Kv.Replay;

namespace Strata.Tests.Kv;

public class ReplayGeneratorTests
{
    public static TheoryData<string> Kinds => new(TraceGenerator.Kinds);

    [Theory]
    [MemberData(nameof(Kinds))]
    public void TheSameSeedGivesTheSameTrace(string kind)
    {
        var a = TraceGenerator.Generate(kind, 400, 7);
        var b = TraceGenerator.Generate(kind, 400, 7);
        var c = TraceGenerator.Generate(kind, 400, 8);
        Assert.Equal(400, a.Count);
        Assert.Equal(Lines(a), Lines(b));
        Assert.NotEqual(Lines(a), Lines(c));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void TracesAreTimeOrderedWithChainedPrefixIds(string kind)
    {
        var trace = TraceGenerator.Generate(kind, 1000, 2);
        for (int i = 1; i < trace.Count; i++) Assert.True(trace[i].Timestamp >= trace[i - 1].Timestamp);
        ReplayTraces.AssertChained(trace);
        var belady = new Belady(trace);
        Assert.InRange(belady.InfiniteCacheHitRate, 0.05, 0.99); // neither all-new nor all-repeated traffic
    }

    [Fact]
    public void UnknownKindsListTheKinds()
    {
        var e = Assert.Throws<StrataException>(() => TraceGenerator.Generate("chat", 10, 1));
        Assert.Contains("'chat'", e.Message);
        Assert.Contains("multi-turn, shared-system, rag, mixed", e.Message);
    }

    [Fact]
    public void EachTurnResendsThePreviousTurnAfterADecodeAndThinkGap()
    {
        var options = new MultiTurnOptions();
        var t = TraceGenerator.MultiTurnTagged(2000, 1, options);
        var last = new Dictionary<int, int>();
        int followUps = 0, switches = 0;
        for (int i = 0; i < t.Requests.Count; i++)
        {
            var r = t.Requests[i];
            if (i > 0 && t.Sessions[i] != t.Sessions[i - 1]) switches++;
            if (last.TryGetValue(t.Sessions[i], out int j))
            {
                var prev = t.Requests[j];
                int full = prev.InputLength / TraceGenerator.BlockTokens;
                Assert.True(r.InputLength > prev.InputLength + prev.OutputLength);
                Assert.Equal(prev.HashIds[..full], r.HashIds[..full]);
                // A partial last block grew, so its content, and its id, changed.
                if (full < prev.HashIds.Length) Assert.NotEqual(prev.HashIds[full], r.HashIds[full]);
                Assert.True(r.Timestamp - prev.Timestamp >= prev.OutputLength * options.DecodeMsPerToken - 1);
                followUps++;
            }
            last[t.Sessions[i]] = i;
        }
        Assert.InRange(followUps, 1000, 1900);
        Assert.True(last.Count > 100, $"{last.Count} conversations");
        Assert.True(switches > 1500, $"only {switches} switches between conversations: not interleaved");
        // Every conversation starts with the shared system prompt's full block.
        Assert.All(t.Requests, r => Assert.Equal(0, r.HashIds[0]));
    }

    [Fact]
    public void PopularSystemPromptsRepeat()
    {
        var options = new SharedSystemOptions();
        var t = TraceGenerator.SharedSystemTagged(2000, 1, options);
        var byPrompt = new Dictionary<int, long[]>();
        var counts = new int[options.SystemPrompts];
        for (int i = 0; i < t.Requests.Count; i++)
        {
            // The shortest prompt still fills two blocks, which every request of that prompt shares.
            long[] head = t.Requests[i].HashIds[..(options.MinSystemPromptTokens / TraceGenerator.BlockTokens)];
            if (byPrompt.TryGetValue(t.Sessions[i], out var seen)) Assert.Equal(seen, head);
            else byPrompt.Add(t.Sessions[i], head);
            counts[t.Sessions[i]]++;
        }
        Assert.True(counts[0] > 2000 / 5, $"the most popular prompt has only {counts[0]} requests");
        Assert.True(counts[0] > counts[options.SystemPrompts - 1]);
        var firstIds = t.Requests.Select(r => r.HashIds[0]).Distinct().Count();
        Assert.Equal(byPrompt.Count, firstIds);
    }

    [Fact]
    public void TheSameDocumentAfterADifferentPrefixGetsDifferentIds()
    {
        var options = new RagOptions();
        var t = TraceGenerator.RagTagged(2000, 1, options);
        int instructionBlocks = options.InstructionTokens / TraceGenerator.BlockTokens;
        var firstBySecond = new Dictionary<int, int>();
        int checkedPairs = 0, sameStart = 0;
        for (int i = 0; i < t.Requests.Count; i++)
        {
            int[] docs = t.Documents[i];
            Assert.Equal(options.DocumentsPerQuery, docs.Length);
            if (docs[0] < 0) continue;
            if (firstBySecond.TryGetValue(docs[1], out int j))
            {
                var shared = t.Requests[i].HashIds.Intersect(t.Requests[j].HashIds).Count();
                if (t.Documents[j][0] != docs[0])
                {
                    // Only the instruction's full blocks are common: document docs[1]'s blocks differ.
                    Assert.Equal(instructionBlocks, shared);
                    checkedPairs++;
                }
                else if (shared > instructionBlocks) sameStart++;
            }
            firstBySecond[docs[1]] = i;
        }
        Assert.True(checkedPairs > 50, $"{checkedPairs} pairs");
        Assert.True(sameStart > 0);
        // One-off queries share nothing but the instruction with any other request.
        int oneOff = t.Documents.FindIndex(d => d[0] < 0);
        var others = t.Requests.Where((_, i) => i != oneOff).SelectMany(r => r.HashIds).ToHashSet();
        Assert.Equal(instructionBlocks, t.Requests[oneOff].HashIds.Count(others.Contains));
    }

    private static List<string> Lines(IReadOnlyList<TraceRequest> trace)
    {
        var w = new StringWriter();
        foreach (var r in trace) MooncakeLine.Format(w, r);
        return w.ToString().Split('\n').ToList();
    }
}
