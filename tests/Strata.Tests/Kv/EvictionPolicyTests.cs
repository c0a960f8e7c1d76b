using Strata.Kv.Policies;

namespace Strata.Tests.Kv;

public class EvictionPolicyTests
{
    [Fact]
    public void LruEvictsTheLeastRecentlyUsedUnpinnedKey()
    {
        var p = new LruPolicy<int>(8);
        p.Admit(1); p.Admit(2); p.Admit(3);
        p.Hit(1);
        p.Pin(2);
        Assert.True(p.TryEvict(out int a)); Assert.Equal(3, a);
        Assert.True(p.TryEvict(out int b)); Assert.Equal(1, b);
        Assert.False(p.TryEvict(out _));    // only the pinned key is left
        p.Unpin(2);
        Assert.True(p.TryEvict(out int c)); Assert.Equal(2, c);
        Assert.Equal(0, p.Count);
    }

    [Theory]
    [InlineData("lru")]
    [InlineData("s3fifo")]
    public void PinnedKeysAreNeverEvictedAndRemovedKeysAreForgotten(string name)
    {
        var p = EvictionPolicies.Create<int>(name, 16);
        for (int i = 0; i < 10; i++) p.Admit(i, pinned: i % 2 == 0);
        p.Remove(1);
        var evicted = new List<int>();
        while (p.TryEvict(out int k)) evicted.Add(k);
        Assert.Equal([3, 5, 7, 9], evicted.Order().ToArray());
        Assert.Equal(5, p.Count);
        Assert.Throws<InvalidOperationException>(() => p.Admit(0));
    }

    /// <summary>A stream of one-time keys (the unique tail of prompts) must not flush keys that are used again.</summary>
    [Fact]
    public void S3FifoKeepsReusedKeysThroughAScanThatLruLosesThemTo()
    {
        int Survivors(IEvictionPolicy<int> p)
        {
            const int capacity = 20;
            for (int hot = 0; hot < 10; hot++) { p.Admit(hot); p.Hit(hot); }
            for (int cold = 100; cold < 400; cold++)
            {
                while (p.Count >= capacity) p.TryEvict(out _);
                p.Admit(cold);
                if (cold % 25 == 0) for (int hot = 0; hot < 10; hot++) p.Hit(hot);
            }
            int alive = 0;
            var left = new List<int>();
            while (p.TryEvict(out int k)) left.Add(k);
            foreach (int k in left) if (k < 10) alive++;
            return alive;
        }
        int s3 = Survivors(new S3FifoPolicy<int>(20));
        int lru = Survivors(new LruPolicy<int>(20));
        Assert.Equal(10, s3);
        Assert.True(lru < s3, $"lru kept {lru} of 10 hot keys");
    }

    [Fact]
    public void S3FifoSendsAKeySeenAgainSoonAfterEvictionToMain()
    {
        var p = new S3FifoPolicy<int>(10);
        for (int i = 0; i < 10; i++) p.Admit(i);
        Assert.True(p.TryEvict(out int first));   // oldest of the small queue goes to the ghost list
        Assert.Equal(0, first);
        p.Admit(first);                            // seen again: straight to main
        for (int i = 10; i < 18; i++) { p.TryEvict(out _); p.Admit(i); }
        var left = new List<int>();
        while (p.TryEvict(out int k)) left.Add(k);
        Assert.Equal(first, left[^1]);             // main outlives everything in the small queue
    }

    [Fact]
    public void UnknownPolicyNamesTheKnownOnes()
    {
        var e = Assert.Throws<StrataException>(() => EvictionPolicies.Create<int>("mru", 4));
        Assert.Contains("lru", e.Message);
        Assert.Contains("s3fifo", e.Message);
    }
}
