using Strata.Kv;

namespace Strata.Router;

/// <summary>How the router picks backends: <c>prefix</c> (affinity, balanced by load) or <c>round-robin</c>.</summary>
public enum RoutePolicy
{
    Prefix,
    RoundRobin,
}

/// <summary>Why a request went where it went (a label of the router's request counter).</summary>
public enum RouteReason
{
    /// <summary>To a backend believed to hold a prefix of the prompt.</summary>
    Affinity,
    /// <summary>To a backend holding none of it: none did, or those that did were too busy.</summary>
    Balanced,
    RoundRobin,
}

public readonly record struct RouteChoice(Backend Backend, RouteReason Reason, int MatchedBlocks);

/// <summary>
/// Picks a backend for a prompt's block hashes. With <see cref="RoutePolicy.Prefix"/>, the healthy backend with the
/// least expected work for it: the blocks it would have to compute (the prompt's, less the leading run it is believed
/// to hold and has finished computing) plus the work queued there (<see cref="Queue"/>) — so a backend holding a prefix
/// wins unless the queue in front of it costs more than the prefix saves.
/// Ties go to the one holding more, then the less loaded, then a rendezvous hash of the first block, so that requests with the same new prefix go to the same backend (and
/// several routers agree without talking). Either way the prompt's blocks are then recorded for the chosen backend.
/// </summary>
public sealed class RoutingPolicy
{
    private readonly Backend[] _backends;
    private readonly AffinityTable _table;
    private readonly Lock _lock = new();
    private long _next;
    private double _meanBlocks = -1;

    public RoutingPolicy(IReadOnlyList<Backend> backends, RoutePolicy policy, AffinityTable? table = null)
    {
        if (backends.Count is 0 or > AffinityTable.MaxBackends) throw new ArgumentException($"1 to {AffinityTable.MaxBackends} backends");
        _backends = backends.ToArray();
        Policy = policy;
        _table = table ?? new AffinityTable();
    }

    public RoutePolicy Policy { get; }
    public AffinityTable Table => _table;
    public IReadOnlyList<Backend> Backends => _backends;

    /// <summary>Blocks of a routed prompt, on average (an exponential moving average): what one sequence of load costs.</summary>
    public double MeanBlocks
    {
        get { lock (_lock) return Math.Max(1, _meanBlocks); }
    }

    /// <summary>The backend for a prompt, leaving out <paramref name="exclude"/> (backends already tried); null when none is healthy.</summary>
    public RouteChoice? Pick(ReadOnlySpan<BlockHash> blocks, ulong exclude = 0)
    {
        var candidates = _backends.Where(b => b.Healthy && (exclude & (1UL << b.Index)) == 0).ToArray();
        if (candidates.Length == 0) return null;
        RouteChoice choice;
        if (Policy == RoutePolicy.RoundRobin)
        {
            long n = Interlocked.Increment(ref _next) - 1;
            choice = new RouteChoice(candidates[(int)(n % candidates.Length)], RouteReason.RoundRobin, 0);
        }
        else choice = ByPrefix(blocks, candidates);
        if (!blocks.IsEmpty)
        {
            _table.Record(blocks, choice.Backend.Index);
            lock (_lock) _meanBlocks = _meanBlocks < 0 ? blocks.Length : 0.95 * _meanBlocks + 0.05 * blocks.Length;
        }
        return choice;
    }

    private RouteChoice ByPrefix(ReadOnlySpan<BlockHash> blocks, Backend[] candidates)
    {
        var matched = blocks.IsEmpty ? new int[_backends.Length] : _table.Matches(blocks, _backends.Length);
        // A prefix that a request in flight is still computing is not there yet: a request sent behind it would compute
        // it again beside it, two cold prefills on one backend.
        foreach (var b in candidates) matched[b.Index] = b.Ready(blocks, matched[b.Index]);
        // What one sequence of others' still costs a backend: half a mean request on average, since sequences arrive and
        // finish continuously; counting a whole one overstates the queue and sends prefixes away.
        double perSequence = MeanBlocks / 2;
        var first = blocks.IsEmpty ? default : blocks[0];
        int n = blocks.Length;
        var best = candidates
            .OrderBy(b => n - matched[b.Index] + Queue(b, perSequence))
            .ThenByDescending(b => matched[b.Index])
            .ThenBy(b => b.Load)
            .ThenByDescending(b => Rendezvous(first, b.Index))
            .First();
        int m = matched[best.Index];
        return new RouteChoice(best, m > 0 ? RouteReason.Affinity : RouteReason.Balanced, m);
    }

    /// <summary>
    /// The work in front of a new request on <paramref name="b"/>, in blocks to compute: half of what this router's
    /// requests there had to compute when sent (half done, on average: a queue of cache hits costs little, a queue of
    /// cold prompts a lot), and half a mean request for each sequence others sent (known only as a count).
    /// </summary>
    private static double Queue(Backend b, double perSequence) => b.PendingBlocks / 2.0 + b.Others * perSequence;

    /// <summary>Highest-random-weight hashing: every router replica ranks backends for a prefix the same way.</summary>
    private static ulong Rendezvous(BlockHash first, int backend)
    {
        ulong x = first.Lo ^ (first.Hi * 0x9E3779B97F4A7C15UL) ^ ((ulong)(backend + 1) * 0xC2B2AE3D27D4EB4FUL);
        x ^= x >> 33;
        x *= 0xFF51AFD7ED558CCDUL;
        x ^= x >> 33;
        return x;
    }
}
