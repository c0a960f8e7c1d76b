namespace Strata.Kv.Replay;

/// <summary>
/// Deterministic generators of prefix-cache traffic in Mooncake's trace format: the same kind, count, seed and
/// options always give the same trace. Block ids come from a prefix trie, so they are chained-prefix ids like
/// Mooncake's, dense and numbered in order of first use.
/// </summary>
public static class TraceGenerator
{
    public const int BlockTokens = 512;

    public static IReadOnlyList<string> Kinds { get; } = ["multi-turn", "shared-system", "rag", "mixed"];

    /// <summary>For the CLI: a kind by name with default options.</summary>
    public static IReadOnlyList<TraceRequest> Generate(string kind, int requests, int seed)
    {
        if (requests < 0) throw new StrataException($"The request count must not be negative, got {requests}.");
        return kind switch
        {
            "multi-turn" => MultiTurn(requests, seed),
            "shared-system" => SharedSystemPrompt(requests, seed),
            "rag" => Rag(requests, seed),
            "mixed" => Mixed(requests, seed),
            _ => throw new StrataException($"Unknown trace kind '{kind}'; the kinds are {string.Join(", ", Kinds)}."),
        };
    }

    public static IReadOnlyList<TraceRequest> MultiTurn(int requests, int seed, MultiTurnOptions? options = null) =>
        MultiTurnTagged(requests, seed, options).Requests;

    public static IReadOnlyList<TraceRequest> SharedSystemPrompt(int requests, int seed, SharedSystemOptions? options = null) =>
        SharedSystemTagged(requests, seed, options).Requests;

    public static IReadOnlyList<TraceRequest> Rag(int requests, int seed, RagOptions? options = null) =>
        RagTagged(requests, seed, options).Requests;

    internal static GeneratedTrace MultiTurnTagged(int requests, int seed, MultiTurnOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(requests);
        var trace = new GeneratedTrace();
        MultiTurnGenerator.Generate(trace, new GeneratorContext(), requests, new Random(seed), options ?? new());
        return trace;
    }

    internal static GeneratedTrace SharedSystemTagged(int requests, int seed, SharedSystemOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(requests);
        var trace = new GeneratedTrace();
        SharedSystemGenerator.Generate(trace, new GeneratorContext(), requests, new Random(seed), options ?? new());
        return trace;
    }

    internal static GeneratedTrace RagTagged(int requests, int seed, RagOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(requests);
        var trace = new GeneratedTrace();
        RagGenerator.Generate(trace, new GeneratorContext(), requests, new Random(seed), options ?? new());
        return trace;
    }

    /// <summary>
    /// The three kinds interleaved by arrival time, each run at its share of the rate (the multi-turn share is
    /// approximate: its rate is set in conversations from the expected turns per conversation).
    /// </summary>
    public static IReadOnlyList<TraceRequest> Mixed(int requests, int seed, MixedOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(requests);
        return MixedTraceBuilder.Build(requests, seed, options ?? new());
    }
}
