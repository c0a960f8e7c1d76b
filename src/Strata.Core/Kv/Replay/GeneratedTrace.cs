namespace Strata.Kv.Replay;

/// <summary>
/// A generator's output with what the trace format drops, for tests: each request's session (conversation or
/// system prompt, -1 for none) and its RAG documents in prompt order (-1 for a one-off document).
/// </summary>
internal sealed class GeneratedTrace
{
    public List<TraceRequest> Requests { get; } = new();
    public List<int> Sessions { get; } = new();
    public List<int[]> Documents { get; } = new();

    public void Add(TraceRequest request, int session, int[]? documents = null)
    {
        Requests.Add(request);
        Sessions.Add(session);
        Documents.Add(documents ?? []);
    }
}

/// <summary>What generators share when interleaved: one id trie and one space of content-stream ids.</summary>
internal sealed class GeneratorContext
{
    private long _nextSource;
    public PrefixIds Trie { get; } = new();

    /// <summary>A fresh content stream (one user message, one reply...), distinct from every other.</summary>
    public long NewSource() => _nextSource++;

    /// <summary>The first of <paramref name="count"/> consecutive fresh streams (documents, system prompts).</summary>
    public long NewSources(int count)
    {
        long first = _nextSource;
        _nextSource += count;
        return first;
    }

    public static long Ms(double seconds) => (long)Math.Round(seconds * 1000);
}
