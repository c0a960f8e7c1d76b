using Strata.Sampling;

namespace Strata.Tests.Sampling;

public class SamplerTests
{
    private static float[] Logits(params float[] l) => l;

    [Fact]
    public void GreedyPicksTheLargestLogit()
    {
        var s = new Sampler(SamplerOptions.Greedy, 5);
        Assert.Equal(3, s.Sample(Logits(0, 1, 2, 5, 4), []));
    }

    [Fact]
    public void SameSeedSameChoicesDifferentSeedDifferentChoices()
    {
        var logits = Enumerable.Range(0, 50).Select(i => (float)Math.Sin(i)).ToArray();
        int[] Run(ulong seed)
        {
            var s = new Sampler(new SamplerOptions { Temperature = 1.5f, TopK = 0, TopP = 1, MinP = 0, Seed = seed }, 50);
            return Enumerable.Range(0, 40).Select(_ => s.Sample(logits, [])).ToArray();
        }
        Assert.Equal(Run(42), Run(42));
        Assert.NotEqual(Run(42), Run(43));
    }

    [Fact]
    public void TopKOneIsGreedy()
    {
        var s = new Sampler(new SamplerOptions { Temperature = 5, TopK = 1, Seed = 1 }, 4);
        for (int i = 0; i < 20; i++) Assert.Equal(2, s.Sample(Logits(1, 2, 3, 0), []));
    }

    [Fact]
    public void TopPKeepsTheSmallestSetReachingP()
    {
        // Probabilities ≈ 0.64, 0.24, 0.09, 0.03: top-p 0.7 keeps the first two only.
        var logits = Logits(3, 2, 1, 0);
        var seen = new HashSet<int>();
        var s = new Sampler(new SamplerOptions { Temperature = 1, TopK = 0, TopP = 0.7f, MinP = 0, Seed = 9 }, 4);
        for (int i = 0; i < 300; i++) seen.Add(s.Sample(logits, []));
        Assert.Equal(new HashSet<int> { 0, 1 }, seen);
    }

    [Fact]
    public void MinPDropsUnlikelyTokens()
    {
        var logits = Logits(3, 2, 1, 0);
        var seen = new HashSet<int>();
        // p1/p0 = e^-1 ≈ 0.37, p2/p0 ≈ 0.14: min-p 0.2 keeps tokens 0 and 1.
        var s = new Sampler(new SamplerOptions { Temperature = 1, TopK = 0, TopP = 1, MinP = 0.2f, Seed = 5 }, 4);
        for (int i = 0; i < 300; i++) seen.Add(s.Sample(logits, []));
        Assert.Equal(new HashSet<int> { 0, 1 }, seen);
    }

    [Fact]
    public void TemperatureSharpensAndFlattens()
    {
        var logits = Logits(1, 0);
        double Share(float t)
        {
            var s = new Sampler(new SamplerOptions { Temperature = t, TopK = 0, TopP = 1, MinP = 0, Seed = 3 }, 2);
            return Enumerable.Range(0, 4000).Count(_ => s.Sample(logits, []) == 0) / 4000.0;
        }
        double cold = Share(0.25f), normal = Share(1f), hot = Share(4f);
        Assert.InRange(normal, 0.69, 0.77); // e/(1+e) ≈ 0.731
        Assert.True(cold > 0.95);
        Assert.InRange(hot, 0.52, 0.60);    // 1/(1+e^-0.25) ≈ 0.562
    }

    [Fact]
    public void RepetitionPenaltyAppliesLlamaCppRule()
    {
        // Token 0 was seen: its positive logit 2 is divided by 2 → 1 < 1.5, so token 1 wins greedily.
        var s = new Sampler(new SamplerOptions { Temperature = 0, RepeatPenalty = 2f }, 2);
        Assert.Equal(1, s.Sample(Logits(2, 1.5f), [0]));
        // A negative logit is multiplied: -1 → -2, below token 1's -1.5.
        var s2 = new Sampler(new SamplerOptions { Temperature = 0, RepeatPenalty = 2f }, 2);
        Assert.Equal(1, s2.Sample(Logits(-1, -1.5f), [0]));
    }

    [Fact]
    public void PresenceAndFrequencyPenalties()
    {
        var freq = new Sampler(new SamplerOptions { Temperature = 0, FrequencyPenalty = 0.3f }, 2);
        Assert.Equal(0, freq.Sample(Logits(2, 1.5f), [0]));        // 2 - 0.3 = 1.7 > 1.5
        Assert.Equal(1, freq.Sample(Logits(2, 1.5f), [0, 0]));     // 2 - 0.6 = 1.4 < 1.5
        var presence = new Sampler(new SamplerOptions { Temperature = 0, PresencePenalty = 0.6f }, 2);
        Assert.Equal(1, presence.Sample(Logits(2, 1.5f), [0]));    // 1.4 < 1.5
        var window = new Sampler(new SamplerOptions { Temperature = 0, PresencePenalty = 0.6f, PenaltyLastN = 1 }, 2);
        Assert.Equal(0, window.Sample(Logits(2, 1.5f), [0, 1]));   // token 0 is outside the window
    }

    [Theory]
    [InlineData(-1, 0.9f, 0.05f)]
    [InlineData(40, 0f, 0.05f)]
    [InlineData(40, 1.5f, 0.05f)]
    [InlineData(40, 0.9f, -0.1f)]
    public void BadOptionsAreRejected(int topK, float topP, float minP)
    {
        Assert.Throws<StrataException>(() => new Sampler(new SamplerOptions { TopK = topK, TopP = topP, MinP = minP }, 10));
    }
}
