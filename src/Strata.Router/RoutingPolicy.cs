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
    /// <summary>To the backend believed to hold the longest prefix of the prompt.</summary>
    Affinity,
    /// <summary>To the least loaded backend: no backend held a prefix, or the one that did was too busy.</summary>
    Balanced,
    RoundRobin,
}

public readonly record struct RouteChoice(Backend Backend, RouteReason Reason, int MatchedBlocks);

/// <summary>
/// Picks a backend for a prompt's block hashes. With <see cref="RoutePolicy.Prefix"/>: the healthy backend believed to
/// hold the longest leading run of the prompt's blocks, unless its load exceeds the least loaded backend's by more
/// than <see cref="LoadSlack"/> (at least <see cref="MinLoadSlack"/> sequences) — then, and when no backend holds a
/// prefix, the least loaded, ties broken by a rendezvous hash of the first block so that requests with the same new
/// prefix go to the same backend. Either way the prompt's blocks are then recorded for the chosen backend.
/// </summary>
public sealed class RoutingPolicy
{
    /// <summary>An affinity backend may carry this fraction more load than the least loaded one, and still be chosen.</summary>
    public const double LoadSlack = 0.5;
    /// <summary>… or at least this many sequences more.</summary>
    public const double MinLoadSlack = 2;

    private readonly Backend[] _backends;
    private readonly AffinityTable _table;
    private long _next;

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
        if (!blocks.IsEmpty) _table.Record(blocks, choice.Backend.Index);
        return choice;
    }

    private RouteChoice ByPrefix(ReadOnlySpan<BlockHash> blocks, Backend[] candidates)
    {
        double least = candidates.Min(b => b.Load);
        if (!blocks.IsEmpty)
        {
            var matched = _table.Matches(blocks, _backends.Length);
            Backend? best = null;
            foreach (var b in candidates)
                if (matched[b.Index] > 0 && (best is null || matched[b.Index] > matched[best.Index] || (matched[b.Index] == matched[best.Index] && b.Load < best.Load)))
                    best = b;
            if (best is not null && best.Load <= least + Math.Max(MinLoadSlack, least * LoadSlack))
                return new RouteChoice(best, RouteReason.Affinity, matched[best.Index]);
        }
        var first = blocks.IsEmpty ? default : blocks[0];
        var pick = candidates.Where(b => b.Load <= least).MaxBy(b => Rendezvous(first, b.Index))!;
        return new RouteChoice(pick, RouteReason.Balanced, 0);
    }

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
