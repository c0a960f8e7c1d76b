namespace Strata.Router;

/// <summary>
/// One <c>strata serve</c> behind the router: where it is, whether its /health last answered 200, its load as its
/// /metrics last said (sequences waiting and running) and the requests this router has in flight to it now.
/// </summary>
public sealed class Backend
{
    private int _inFlight;
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
    /// What routing weighs, in sequences: the backend's waiting and running ones from others (its last scrape, less
    /// this router's requests it counted then) plus this router's in flight now. A scrape is up to one interval old;
    /// counting the router's own part from its live count keeps a backend that has just finished a request (the
    /// previous turn of a conversation, typically) from looking busy.
    /// </summary>
    public double Load => Math.Max(0, Waiting + Running - InFlightAtScrape) + InFlight;

    public void Begin() => Interlocked.Increment(ref _inFlight);
    public void End() => Interlocked.Decrement(ref _inFlight);
}
