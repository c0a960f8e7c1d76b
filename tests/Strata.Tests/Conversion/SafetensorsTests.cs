using Strata.Conversion;
using Strata.Tests.Support;

namespace Strata.Tests.Conversion;

/// <summary>The safetensors reader: values read back exactly, and every kind of malformed file a clear one-line error.</summary>
public class SafetensorsTests
{
    [Fact]
    public void ReadsF32F16Bf16Exactly()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "m.safetensors");
        var rng = new Random(3);
        var values = Enumerable.Range(0, 24).Select(_ => (float)TestModels.Gaussian(rng)).ToArray();
        SafetensorsWriter.Write(path,
        [
            new("a", "F32", [4, 6], values),
            new("b", "F16", [24], values),
            new("c", "BF16", [2, 3, 4], values),
        ], new Dictionary<string, string> { ["format"] = "pt" });
        using var f = SafetensorsFile.Open(path);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(["a", "b", "c"], f.Tensors.Select(t => t.Name));
        foreach (var (name, dtype) in new[] { ("a", "F32"), ("b", "F16"), ("c", "BF16") })
        {
            var t = f.Find(name)!;
            var expected = SafetensorsWriter.Round(values, dtype);
            var row = new float[t.Cols];
            for (long r = 0; r < t.Rows; r++)
            {
                f.ReadRow(t, r, row);
                Assert.Equal(expected.AsSpan((int)(r * t.Cols), (int)t.Cols).ToArray(), row);
            }
        }
        Assert.Equal([2L, 3, 4], f.Find("c")!.Shape);
    }

    public static TheoryData<string, string, int, ulong?, string> Malformed => new()
    {
        { "header length past the end", """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8, 1UL << 40, "runs past the end of the file" },
        { "header length over 100 MB", """{}""", 0, 200_000_000UL, "header length" },
        { "bad JSON", """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}""", 8, null, "not valid JSON" },
        { "not an object", """[1,2,3]""", 0, null, "does not start with '{'" },
        { "offset out of range", """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 8, null, "runs past the end of the data section" },
        { "overlap", """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 16, null, "overlaps tensor" },
        { "unknown dtype", """{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}""", 8, null, "unknown dtype 'F33'" },
        { "numeric dtype", """{"a":{"dtype":"9","shape":[2],"data_offsets":[0,8]}}""", 8, null, "unknown dtype '9'" },
        { "shape/size mismatch", """{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}""", 8, null, "needs 6 bytes, but data_offsets give 8" },
        { "negative dimension", """{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", 8, null, "invalid dimension" },
        { "reversed offsets", """{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", 8, null, "invalid data_offsets" },
        { "missing dtype", """{"a":{"shape":[2],"data_offsets":[0,8]}}""", 8, null, "has no dtype" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedFilesGiveClearErrors(string what, string header, int dataBytes, ulong? length, string expected)
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "bad.safetensors");
        SafetensorsWriter.WriteRaw(path, header, new byte[dataBytes], length);
        var e = Assert.ThrowsAny<StrataException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("bad.safetensors: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.NotNull(what);
    }

    [Fact]
    public void TooShortFileIsAnError()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "short.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        var e = Assert.ThrowsAny<StrataException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains("too short", e.Message);
    }
}
