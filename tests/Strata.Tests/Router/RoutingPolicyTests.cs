using Strata.Kv;
using Strata.Router;

namespace Strata.Tests.Router;

/// <summary>The routing decision on its own: prefix affinity, the load bound on it, consistent choices for new prefixes.</summary>
public class RoutingPolicyTests
{
    private static Backend[] Backends(int n) => Enumerable.Range(0, n).Select(i => new Backend(i, new Uri($"http://127.0.0.1:{9000 + i}")) { Healthy = true }).ToArray();

    /// <summary>Seeded tokens, a whole number of blocks.</summary>
    private static int[] Tokens(int blocks, int seed) => Strata.Tests.Support.TestModels.RandomTokens(1000, blocks * 16, seed);

    [Fact]
    public void AConversationReturnsToTheBackendThatHoldsItsPrefix()
    {
        var backends = Backends(3);
        var policy = new RoutingPolicy(backends, RoutePolicy.Prefix);
        var turn1 = Tokens(6, 1);
        var first = policy.Pick(PromptBlocks.Hash(turn1))!.Value;
        Assert.Equal(RouteReason.Balanced, first.Reason);
        // The next turn extends the prompt: the same backend, by affinity, six blocks matched.
        var turn2 = turn1.Concat(Tokens(3, 2)).ToArray();
        var second = policy.Pick(PromptBlocks.Hash(turn2))!.Value;
        Assert.Equal(first.Backend, second.Backend);
        Assert.Equal(RouteReason.Affinity, second.Reason);
        Assert.Equal(6, second.MatchedBlocks);
        // The longest match wins over a shorter one elsewhere: a prompt sharing only two blocks, sent elsewhere by
        // load, records those two there; the long one still goes home.
        backends[first.Backend.Index].Waiting = 10;
        var branch = policy.Pick(PromptBlocks.Hash(turn1[..32].Concat(Tokens(4, 3)).ToArray()))!.Value;
        Assert.NotEqual(first.Backend, branch.Backend);
        backends[first.Backend.Index].Waiting = 0;
        var third = policy.Pick(PromptBlocks.Hash(turn2.Concat(Tokens(1, 4)).ToArray()))!.Value;
        Assert.Equal(first.Backend, third.Backend);
        Assert.Equal(9, third.MatchedBlocks);
    }

    [Fact]
    public void AffinityGivesWayWhenTheQueueCostsMoreThanThePrefixSaves()
    {
        var backends = Backends(2);
        var policy = new RoutingPolicy(backends, RoutePolicy.Prefix);
        var prompt = PromptBlocks.Hash(Tokens(4, 5));
        var home = policy.Pick(prompt)!.Value.Backend;
        var other = backends[1 - home.Index];
        Assert.Equal(4, policy.MeanBlocks);
        // A sequence already there costs half a mean request (it is half done on average): two in front of it cost as
        // much as computing the prompt elsewhere — a tie, which the cache wins.
        home.Running = 2;
        var stay = policy.Pick(prompt)!.Value;
        Assert.Equal((home, RouteReason.Affinity, 4), (stay.Backend, stay.Reason, stay.MatchedBlocks));
        // Three cost more than recomputing four blocks on the idle one.
        home.Running = 3;
        var moved = policy.Pick(prompt)!.Value;
        Assert.Equal((other, RouteReason.Balanced), (moved.Backend, moved.Reason));
        // Now both hold it: the less loaded one.
        home.Running = 0;
        other.Running = 1;
        Assert.Equal(home, policy.Pick(prompt)!.Value.Backend);
        // A long match outweighs a little load: eight of nine blocks held, one sequence in front.
        var conversation = Tokens(4, 8).Concat(Tokens(4, 6)).ToArray();
        Assert.Equal(home, policy.Pick(PromptBlocks.Hash(conversation))!.Value.Backend);
        home.Running = 1;
        other.Running = 0;
        var next = policy.Pick(PromptBlocks.Hash(conversation.Concat(Tokens(1, 7)).ToArray()))!.Value;
        Assert.Equal((home, 8), (next.Backend, next.MatchedBlocks));
    }

    [Fact]
    public void NewPrefixesSpreadAndTheSameNewPrefixGoesToTheSameBackend()
    {
        var counts = new int[4];
        var first = new Dictionary<int, int>();
        for (int seed = 0; seed < 200; seed++)
        {
            // A fresh policy each time: nothing recorded, so only the rendezvous hash decides.
            var a = new RoutingPolicy(Backends(4), RoutePolicy.Prefix).Pick(PromptBlocks.Hash(Tokens(2, 100 + seed)))!.Value.Backend.Index;
            var b = new RoutingPolicy(Backends(4), RoutePolicy.Prefix).Pick(PromptBlocks.Hash(Tokens(2, 100 + seed)))!.Value.Backend.Index;
            Assert.Equal(a, b);
            counts[a]++;
        }
        Assert.All(counts, c => Assert.InRange(c, 25, 75));
    }

    [Fact]
    public void UnhealthyBackendsAndTriedOnesAreLeftOut()
    {
        var backends = Backends(3);
        var policy = new RoutingPolicy(backends, RoutePolicy.Prefix);
        var prompt = PromptBlocks.Hash(Tokens(3, 9));
        var home = policy.Pick(prompt)!.Value.Backend;
        home.Healthy = false;
        var next = policy.Pick(prompt)!.Value.Backend;
        Assert.NotEqual(home, next);
        var third = policy.Pick(prompt, exclude: 1UL << next.Index)!.Value.Backend;
        Assert.NotEqual(home, third);
        Assert.NotEqual(next, third);
        Assert.Null(policy.Pick(prompt, exclude: (1UL << next.Index) | (1UL << third.Index)));
        policy.Table.Forget(next.Index);
        Assert.Equal(0, policy.Table.Matches(prompt, 3)[next.Index]);
    }

    [Fact]
    public void ABackendThatJustFinishedTheRoutersRequestDoesNotLookBusy()
    {
        var b = Backends(1)[0];
        // Scraped while one of this router's requests ran there; that request has finished since.
        b.Running = 1;
        b.InFlightAtScrape = 1;
        Assert.Equal(0, b.Load);
        b.Begin();
        Assert.Equal(1, b.Load);
        b.End();
        // Others' sequences count as scraped.
        b.Waiting = 2;
        Assert.Equal(2, b.Load);
    }

    [Fact]
    public void AQueueOfCacheHitsCostsLessThanAQueueOfColdPrompts()
    {
        var backends = Backends(2);
        var policy = new RoutingPolicy(backends, RoutePolicy.Prefix);
        var shared = Tokens(8, 20);
        var home = policy.Pick(PromptBlocks.Hash(shared))!.Value.Backend;
        var other = backends[1 - home.Index];
        // Two of this router's requests run on each: at home they found the prefix (one new block each), on the other
        // they are cold (eight blocks each). A new cold prompt goes where the work in front of it is smaller.
        var hit = PromptBlocks.Hash(shared.Concat(Tokens(1, 21)).ToArray());
        home.Begin(hit.AsSpan(8)); home.Begin(hit.AsSpan(8));
        var cold = PromptBlocks.Hash(Tokens(8, 22));
        other.Begin(cold); other.Begin(cold);
        Assert.Equal(home, policy.Pick(PromptBlocks.Hash(Tokens(8, 23)))!.Value.Backend);
        other.End(cold); other.End(cold);
        Assert.Equal(0, other.PendingBlocks);
        Assert.Equal(2, home.PendingBlocks);
    }

    [Fact]
    public void APrefixStillBeingComputedIsNotCountedAsHeld()
    {
        var backends = Backends(3);
        var policy = new RoutingPolicy(backends, RoutePolicy.Prefix);
        var prompt = PromptBlocks.Hash(Tokens(6, 30));
        var first = policy.Pick(prompt)!.Value;
        // The first request is still prefilling: a second with the same prompt would compute it again beside it.
        first.Backend.Begin(prompt.AsSpan(first.MatchedBlocks));
        var second = policy.Pick(prompt)!.Value;
        Assert.NotEqual(first.Backend, second.Backend);
        Assert.Equal((RouteReason.Balanced, 0), (second.Reason, second.MatchedBlocks));
        second.Backend.Begin(prompt.AsSpan(second.MatchedBlocks));
        // Once the first has finished, its blocks are there to be found.
        first.Backend.End(prompt.AsSpan(first.MatchedBlocks));
        var third = policy.Pick(prompt)!.Value;
        Assert.Equal((first.Backend, RouteReason.Affinity, 6), (third.Backend, third.Reason, third.MatchedBlocks));
        second.Backend.End(prompt.AsSpan(second.MatchedBlocks));
        Assert.Equal(0, second.Backend.PendingBlocks);
    }

    [Fact]
    public void RoundRobinTakesTurns()
    {
        var policy = new RoutingPolicy(Backends(3), RoutePolicy.RoundRobin);
        var prompt = PromptBlocks.Hash(Tokens(3, 9));
        Assert.Equal([0, 1, 2, 0, 1, 2], Enumerable.Range(0, 6).Select(_ => policy.Pick(prompt)!.Value.Backend.Index));
    }

    [Fact]
    public void TheTableForgetsTheLeastRecentlyUsedPastItsCapacity()
    {
        var table = new AffinityTable(capacity: 8);
        var old = PromptBlocks.Hash(Tokens(4, 1));
        table.Record(old, 0);
        var recent = PromptBlocks.Hash(Tokens(6, 2));
        table.Record(recent, 1);
        Assert.Equal(8, table.Count);
        Assert.Equal(0, table.Matches(old, 2)[0]);          // its first blocks were the oldest
        Assert.Equal(6, table.Matches(recent, 2)[1]);
    }
}
