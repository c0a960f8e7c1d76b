using Strata.Engine;

namespace Strata.Tests.Sampling;

public class StopStringTests
{
    [Fact]
    public void StopStringIsNeverStreamedEvenInPart()
    {
        var streamed = new List<string>();
        var f = new StopStringFilter(["</end>"], streamed.Add);
        Assert.False(f.Push("Hello </"));
        Assert.False(f.Push("en"));
        Assert.True(f.Push("d> more"));
        Assert.Equal("Hello ", string.Concat(streamed));
        Assert.Equal("Hello ", f.Text);
    }

    [Fact]
    public void HeldBackTextIsReleasedWhenItStopsMatching()
    {
        var streamed = new List<string>();
        var f = new StopStringFilter(["STOP"], streamed.Add);
        Assert.False(f.Push("a ST"));
        Assert.Equal("a ", string.Concat(streamed));
        Assert.False(f.Push("AR"));
        Assert.Equal("a STAR", string.Concat(streamed));
        f.Finish("");
        Assert.Equal("a STAR", f.Text);
    }

    [Fact]
    public void EarliestOfSeveralStopsWins()
    {
        var f = new StopStringFilter(["b", "a"], null);
        Assert.True(f.Push("xxabyy"));
        Assert.Equal("xx", f.Text);
    }
}
