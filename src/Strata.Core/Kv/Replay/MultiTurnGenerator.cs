namespace Strata.Kv.Replay;

/// <summary>
/// Interleaved chat conversations, simulated as events in time: each turn resends the system prompt and the whole
/// history (user messages and replies) plus a new user message; the next turn comes after the reply is decoded
/// and the user has thought. Reuse is the history's full blocks; the partial last block changes every turn.
/// </summary>
internal static class MultiTurnGenerator
{
    private sealed class Conversation(int index, int turns)
    {
        public int Index { get; } = index;
        public int TurnsLeft { get; set; } = turns;
        public List<PromptSegment> History { get; } = new();
        public int Tokens { get; set; }
    }

    public static void Generate(GeneratedTrace trace, GeneratorContext ctx, int requests, Random rng, MultiTurnOptions o)
    {
        Validate(o);
        long system = ctx.NewSource();
        // Ordered by (time, creation order) so equal times still pop deterministically.
        var queue = new PriorityQueue<Conversation, (double Time, long Order)>();
        long order = 0;
        int conversations = 0;
        double nextArrival = 0;
        int emitted = 0;
        while (emitted < requests)
        {
            if (queue.Count == 0 || nextArrival <= PeekTime(queue))
            {
                queue.Enqueue(Start(conversations++, rng, o, system), (nextArrival, order++));
                nextArrival += TraceRandom.Exponential(rng, 1 / o.ConversationsPerSecond);
                continue;
            }
            queue.TryDequeue(out var c, out var at);
            int user = TraceRandom.LogNormal(rng, o.MedianUserTokens, 1.0, 1, o.MaxContextTokens);
            if ((long)c!.Tokens + user > o.MaxContextTokens) continue; // context full: the conversation ends
            c.History.Add(new PromptSegment(ctx.NewSource(), 0, user));
            c.Tokens += user;
            int output = TraceRandom.LogNormal(rng, o.MedianOutputTokens, 1.0, 1, 8192);
            long[] ids = PromptBlocks.Ids(c.History, ctx.Trie, out int tokens);
            trace.Add(new TraceRequest(GeneratorContext.Ms(at.Time), tokens, output, ids), c.Index);
            emitted++;
            // The reply joins the history that the next turn resends.
            c.History.Add(new PromptSegment(ctx.NewSource(), 0, output));
            c.Tokens += output;
            if (--c.TurnsLeft > 0)
            {
                double next = at.Time + output * o.DecodeMsPerToken / 1000 + TraceRandom.Exponential(rng, o.MeanThinkSeconds);
                queue.Enqueue(c, (next, order++));
            }
        }
    }

    private static double PeekTime(PriorityQueue<Conversation, (double Time, long Order)> queue)
    {
        queue.TryPeek(out _, out var at);
        return at.Time;
    }

    private static Conversation Start(int index, Random rng, MultiTurnOptions o, long system)
    {
        int turns = TraceRandom.Geometric(rng, o.MeanTurns);
        if (rng.NextDouble() < o.AbandonFraction) turns = 1 + rng.Next(turns);
        var c = new Conversation(index, turns);
        if (o.SystemPromptTokens > 0)
        {
            c.History.Add(new PromptSegment(system, 0, o.SystemPromptTokens));
            c.Tokens = o.SystemPromptTokens;
        }
        return c;
    }

    private static void Validate(MultiTurnOptions o)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.ConversationsPerSecond, nameof(o.ConversationsPerSecond));
        ArgumentOutOfRangeException.ThrowIfLessThan(o.MeanTurns, 1, nameof(o.MeanTurns));
        if (o.AbandonFraction is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(o.AbandonFraction));
        ArgumentOutOfRangeException.ThrowIfNegative(o.MeanThinkSeconds, nameof(o.MeanThinkSeconds));
        ArgumentOutOfRangeException.ThrowIfNegative(o.DecodeMsPerToken, nameof(o.DecodeMsPerToken));
        ArgumentOutOfRangeException.ThrowIfNegative(o.SystemPromptTokens, nameof(o.SystemPromptTokens));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.MedianUserTokens, nameof(o.MedianUserTokens));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.MedianOutputTokens, nameof(o.MedianOutputTokens));
        if (o.MaxContextTokens <= o.SystemPromptTokens) throw new ArgumentOutOfRangeException(nameof(o.MaxContextTokens), "must exceed the system prompt");
    }
}
