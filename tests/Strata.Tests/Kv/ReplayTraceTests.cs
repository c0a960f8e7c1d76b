using Strata.Kv.Replay;
using Strata.Tests.Support;

namespace Strata.Tests.Kv;

public class ReplayTraceTests
{
    private const string Good = """{"timestamp": 5, "input_length": 1000, "output_length": 7, "hash_ids": [0, 1]}""";

    [Fact]
    public void ReadsThePublicMooncakeTrace()
    {
        var trace = ReplayTraces.Public;
        Assert.Equal(3993, trace.Count);
        var first = trace[0];
        Assert.Equal(0, first.Timestamp);
        Assert.Equal(40160, first.InputLength);
        Assert.Equal(6, first.OutputLength);
        Assert.Equal(Enumerable.Range(0, 79).Select(i => (long)i), first.HashIds);
        Assert.Equal(43923, trace[^1].HashIds[^1]);
        for (int i = 1; i < trace.Count; i++) Assert.True(trace[i].Timestamp >= trace[i - 1].Timestamp);
        ReplayTraces.AssertChained(trace);
    }

    [Theory]
    [InlineData("""{"timestamp": 0, "input_length": 1""", "bad JSON")]
    [InlineData("""{"input_length": 1, "output_length": 1, "hash_ids": [0]}""", "missing field 'timestamp'")]
    [InlineData("""{"timestamp": 0, "output_length": 1, "hash_ids": [0]}""", "missing field 'input_length'")]
    [InlineData("""{"timestamp": 0, "input_length": 1, "hash_ids": [0]}""", "missing field 'output_length'")]
    [InlineData("""{"timestamp": 0, "input_length": 1, "output_length": 1}""", "missing field 'hash_ids'")]
    [InlineData("""{"timestamp": 0, "input_length": -1, "output_length": 1, "hash_ids": [0]}""", "'input_length' must not be negative")]
    [InlineData("""{"timestamp": -3, "input_length": 1, "output_length": 1, "hash_ids": [0]}""", "'timestamp' must not be negative")]
    [InlineData("""{"timestamp": 0, "input_length": 1, "output_length": 1, "hash_ids": [0, 1.5]}""", "hash_ids[1] must be an integer, got 1.5")]
    [InlineData("""{"timestamp": 0, "input_length": 1, "output_length": 1, "hash_ids": [0, "7"]}""", "hash_ids[1] must be an integer")]
    [InlineData("""{"timestamp": 0, "input_length": 1, "output_length": 1, "hash_ids": [-2]}""", "hash_ids[0] must not be negative")]
    [InlineData("""{"timestamp": 0, "input_length": 1, "output_length": 1, "hash_ids": 4}""", "'hash_ids' must be an array")]
    [InlineData("""{"timestamp": "0", "input_length": 1, "output_length": 1, "hash_ids": [0]}""", "'timestamp' must be a number")]
    [InlineData("""{"timestamp": 0, "timestamp": 1, "input_length": 1, "output_length": 1, "hash_ids": [0]}""", "'timestamp' appears twice")]
    [InlineData("""{"timestamp": 0, "input_length": 9999999999, "output_length": 1, "hash_ids": [0]}""", "'input_length' is too large")]
    [InlineData("""[1, 2]""", "expected a JSON object")]
    [InlineData("""{"timestamp": 0, "input_length": 1, "output_length": 1, "hash_ids": [0]} x""", "bad JSON")]
    public void MalformedLinesNameTheFileAndLine(string bad, string expected)
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "bad.jsonl");
        File.WriteAllText(path, Good + "\n\n" + bad + "\n" + Good + "\n");
        var e = Assert.Throws<StrataException>(() => MooncakeTrace.Read(path));
        Assert.Contains($"Trace '{path}' line 3: ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("\n", e.Message);
        Assert.DoesNotContain("LineNumber", e.Message);
    }

    [Fact]
    public void ALineWithMoreThanAMillionIdsIsRefused()
    {
        string ids = string.Join(", ", Enumerable.Repeat("0", MooncakeLine.MaxHashIds + 1));
        string line = $$"""{"timestamp": 0, "input_length": 1, "output_length": 1, "hash_ids": [{{ids}}]}""";
        var e = Assert.Throws<StrataException>(() => MooncakeTrace.ReadLines(new StringReader(line), "big.jsonl").ToList());
        Assert.Contains("'big.jsonl' line 1", e.Message);
        Assert.Contains("more than 1000000", e.Message);
    }

    [Fact]
    public void BlankLinesAndUnknownFieldsAreSkipped()
    {
        string text = "\n  \n" + """{"timestamp": 5, "session": {"id": [1]}, "input_length": 1000, "output_length": 7, "hash_ids": []}""" + "\r\n\n";
        var trace = MooncakeTrace.ReadLines(new StringReader(text), "s").ToList();
        var r = Assert.Single(trace);
        Assert.Equal((5L, 1000, 7, 0), (r.Timestamp, r.InputLength, r.OutputLength, r.HashIds.Length));
    }

    [Fact]
    public void AMissingFileIsAClearError()
    {
        var e = Assert.Throws<StrataException>(() => MooncakeTrace.Read("/nonexistent/trace.jsonl"));
        Assert.Contains("/nonexistent/trace.jsonl", e.Message);
    }

    [Fact]
    public void WritingThePublicTraceReproducesItsBytes()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "copy.jsonl");
        MooncakeTrace.Write(path, ReplayTraces.Public);
        Assert.Equal(File.ReadAllBytes(ReplayTraces.PublicTracePath()), File.ReadAllBytes(path));
    }

    [Fact]
    public void WriteThenReadRoundTrips()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "t.jsonl");
        File.WriteAllText(path, "old contents");
        var trace = TraceGenerator.Generate("mixed", 300, 3);
        MooncakeTrace.Write(path, trace);
        var back = MooncakeTrace.Read(path);
        Assert.Equal(trace.Count, back.Count);
        for (int i = 0; i < trace.Count; i++)
        {
            Assert.Equal((trace[i].Timestamp, trace[i].InputLength, trace[i].OutputLength), (back[i].Timestamp, back[i].InputLength, back[i].OutputLength));
            Assert.Equal(trace[i].HashIds, back[i].HashIds);
        }
        Assert.Equal(new[] { "t.jsonl" }, Directory.GetFiles(dir.Path).Select(f => Path.GetFileName(f)));
    }

    [Fact]
    public void AFailedWriteLeavesTheOldFileAndNoTemporary()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "t.jsonl");
        File.WriteAllText(path, "old contents");
        var bad = new[] { new TraceRequest(0, 1, 1, [0]), new TraceRequest(1, -1, 1, [1]) };
        Assert.Throws<ArgumentException>(() => MooncakeTrace.Write(path, bad));
        Assert.Equal("old contents", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}
