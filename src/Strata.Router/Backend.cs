using Strata.Kv;

namespace Strata.Router;

/// <summary>
/// One <c>strata serve</c> behind the router: where it is, whether its /health last answered 200, its load as its
/// /metrics last said (sequences waiting and running) and the requests this router has in flight to it now.
/// </summary>
public sealed class Backend
{
    private int _inFlight;
    private long _pendingBlocks;
    /// <summary>Blocks that requests in flight here are computing (not found in its cache when sent), with how many are.</summary>
    private readonly Dictionary<BlockHash, int> _computing = new();
    private volatile bool _healthy;

    public Backend(int index, Uri address)
    {
        Index = index;
        Address = address;
        // "http://host:port" with no trailing slash: YARP appends the request's path.
        Prefix = address.GetLeftPart(UriPartial.Authority);
    }

    public int Index { get; }
    public Uri Address { get; }
    public string Prefix { get; }
    public string Label => Prefix;

    public bool Healthy
    {
        get => _healthy;
        set => _healthy = value;
    }

    /// <summary>strata_num_requests_waiting and strata_num_requests_running at the last scrape.</summary>
    public double Waiting { get; set; }
    public double Running { get; set; }
    /// <summary>This router's requests in flight to the backend when it was last scraped (part of what the scrape counted).</summary>
    public int InFlightAtScrape { get; set; }
    public DateTime? LastSeen { get; set; }
    public string? LastError { get; set; }

    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>
    /// Its load in sequences (the router's gauge, and routing's tie-break): the waiting and running ones from others (its last scrape, less
    /// this router's requests it counted then) plus this router's in flight now. A scrape is up to one interval old;
    /// counting the router's own part from its live count keeps a backend that has just finished a request (the
    /// previous turn of a conversation, typically) from looking busy.
    /// </summary>
    public double Load => Others + InFlight;

    /// <summary>Sequences here that this router did not send (other routers', direct clients'), as last scraped.</summary>
    public double Others => Math.Max(0, Waiting + Running - InFlightAtScrape);

    /// <summary>
    /// The blocks this router's requests in flight here had to compute when they were sent (their prompts less the
    /// prefix the backend was believed to hold): the prefill work queued or under way, which a count of sequences
    /// cannot tell apart from a queue of cache hits.
    /// </summary>
    public long PendingBlocks => Interlocked.Read(ref _pendingBlocks);

    /// <summary>A request sent here, with the blocks of its prompt that it has to compute.</summary>
    public void Begin(ReadOnlySpan<BlockHash> newBlocks = default)
    {
        Interlocked.Increment(ref _inFlight);
        Interlocked.Add(ref _pendingBlocks, newBlocks.Length);
        if (newBlocks.IsEmpty) return;
        lock (_computing)
            foreach (var h in newBlocks)
                _computing[h] = _computing.GetValueOrDefault(h) + 1;
    }

    public void End(ReadOnlySpan<BlockHash> newBlocks = default)
    {
        Interlocked.Decrement(ref _inFlight);
        Interlocked.Add(ref _pendingBlocks, -newBlocks.Length);
        if (newBlocks.IsEmpty) return;
        lock (_computing)
            foreach (var h in newBlocks)
                if (_computing.TryGetValue(h, out int c)) { if (c <= 1) _computing.Remove(h); else _computing[h] = c - 1; }
    }

    /// <summary>
    /// Of the first <paramref name="held"/> blocks (believed held here), how many lead the prompt before one that a
    /// request in flight is still computing: a request sent now would not find that one in the cache, but compute it
    /// again beside the first — two cold prefills sharing one backend, the worst time to first token there is.
    /// </summary>
    public int Ready(ReadOnlySpan<BlockHash> blocks, int held)
    {
        lock (_computing)
        {
            if (_computing.Count == 0) return held;
            for (int i = 0; i < held; i++)
                if (_computing.ContainsKey(blocks[i])) return i;
        }
        return held;
    }
}
