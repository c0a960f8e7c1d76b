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

    [Fact]
    public void LongOutputsStreamEverythingBeforeALateStop()
    {
        var streamed = new System.Text.StringBuilder();
        var f = new StopStringFilter(["<end>", "xyz"], t => streamed.Append(t));
        for (int i = 0; i < 20000; i++) Assert.False(f.Push(i % 7 == 0 ? "<e" : "a "));
        Assert.True(f.Push("<end> tail"));
        Assert.Equal(f.Text, streamed.ToString());
        Assert.EndsWith("a <e", f.Text);
        Assert.Equal(20000 * 2, f.Text.Length);
    }
}
