namespace Strata.Kv.Replay;

/// <summary>
/// Single-shot requests to a few apps: a Zipf-popular system prompt of several blocks, then unique user content.
/// Reuse is the system prompt's full blocks; everything after it is new.
/// </summary>
internal static class SharedSystemGenerator
{
    public static void Generate(GeneratedTrace trace, GeneratorContext ctx, int requests, Random rng, SharedSystemOptions o)
    {
        Validate(o);
        long first = ctx.NewSources(o.SystemPrompts);
        var lengths = new int[o.SystemPrompts];
        for (int p = 0; p < lengths.Length; p++) lengths[p] = rng.Next(o.MinSystemPromptTokens, o.MaxSystemPromptTokens + 1);
        var popularity = new Zipf(o.SystemPrompts, o.ZipfExponent);
        var segments = new List<PromptSegment>(2);
        double time = 0;
        for (int i = 0; i < requests; i++)
        {
            int p = popularity.Sample(rng);
            segments.Clear();
            segments.Add(new PromptSegment(first + p, 0, lengths[p]));
            segments.Add(new PromptSegment(ctx.NewSource(), 0, TraceRandom.LogNormal(rng, o.MedianUserTokens, 1.0, 1, 32_768)));
            long[] ids = PromptBlocks.Ids(segments, ctx.Trie, out int tokens);
            int output = TraceRandom.LogNormal(rng, o.MedianOutputTokens, 1.0, 1, 8192);
            trace.Add(new TraceRequest(GeneratorContext.Ms(time), tokens, output, ids), p);
            time += TraceRandom.Exponential(rng, 1 / o.RequestsPerSecond);
        }
    }

    private static void Validate(SharedSystemOptions o)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.RequestsPerSecond, nameof(o.RequestsPerSecond));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.SystemPrompts, nameof(o.SystemPrompts));
        ArgumentOutOfRangeException.ThrowIfNegative(o.ZipfExponent, nameof(o.ZipfExponent));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.MinSystemPromptTokens, nameof(o.MinSystemPromptTokens));
        ArgumentOutOfRangeException.ThrowIfLessThan(o.MaxSystemPromptTokens, o.MinSystemPromptTokens, nameof(o.MaxSystemPromptTokens));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.MedianUserTokens, nameof(o.MedianUserTokens));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.MedianOutputTokens, nameof(o.MedianOutputTokens));
    }
}
