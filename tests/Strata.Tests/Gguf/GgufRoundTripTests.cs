using Strata.Gguf;
using Strata.Tensors;
using Strata.Tests.Support;

namespace Strata.Tests.Gguf;

public class GgufRoundTripTests
{
    internal static string SampleFile(string dir, uint alignment = 32)
    {
        var w = new GgufWriter { Alignment = alignment };
        w.Add("general.architecture", "llama");
        w.Add("general.name", "t\u00e9st \U0001F600");
        w.Add("u32", 7u);
        w.Add("i32", -5);
        w.Add("f32", 1.5f);
        w.Add("flag", true);
        w.Add("u64", 1UL << 40);
        w.Add("strings", new[] { "a", "", "\u4e2d\u6587" });
        w.Add("floats", new[] { 1f, -2f });
        w.Add("ints", new[] { 3, 4, 5 });
        w.AddArray("nested", new GgufArray(GgufValueType.Array, new[]
        {
            new GgufArray(GgufValueType.Int32, new[] { 1, 2 }),
            new GgufArray(GgufValueType.String, new[] { "x" }),
        }));
        if (alignment != 32) w.Add("general.alignment", alignment);
        var a = new byte[64 * 4];
        for (int i = 0; i < a.Length; i++) a[i] = (byte)i;
        w.AddTensor("a", GgmlType.F32, new long[] { 64 }, a);
        var b = new byte[GgmlTypeInfo.BlockBytes(GgmlType.Q8_0) * 2 * 3];
        for (int i = 0; i < b.Length; i++) b[i] = (byte)(i * 7);
        w.AddTensor("b", GgmlType.Q8_0, new long[] { 64, 3 }, b);
        string path = Path.Combine(dir, $"sample{alignment}.gguf");
        w.Write(path);
        return path;
    }

    [Theory]
    [InlineData(32u)]
    [InlineData(64u)]
    [InlineData(1u)]
    public void WrittenFileReadsBack(uint alignment)
    {
        using var dir = new TempDir();
        using var f = GgufFile.Open(SampleFile(dir.Path, alignment));
        Assert.Equal(3u, f.Version);
        Assert.Equal(alignment, f.Alignment);
        Assert.Equal("llama", f.Metadata.GetString("general.architecture"));
        Assert.Equal("t\u00e9st \U0001F600", f.Metadata.GetString("general.name"));
        Assert.Equal(7u, f.Metadata.GetUInt32("u32"));
        Assert.Equal(-5, f.Metadata.TryGetInt32("i32"));
        Assert.Equal(1.5f, f.Metadata.GetFloat32("f32"));
        Assert.True(f.Metadata.TryGetBool("flag"));
        Assert.Equal(1UL << 40, f.Metadata.Get("u64").Value);
        Assert.Equal(new[] { "a", "", "\u4e2d\u6587" }, f.Metadata.GetStringArray("strings"));
        Assert.Equal(new[] { 1f, -2f }, f.Metadata.TryGetFloat32Array("floats"));
        Assert.Equal(new[] { 3, 4, 5 }, f.Metadata.TryGetInt32Array("ints"));
        var nested = (GgufArray[])f.Metadata.TryGetArray("nested")!.Items;
        Assert.Equal(new[] { 1, 2 }, nested[0].Items);
        Assert.Equal(new[] { "x" }, nested[1].Items);
        Assert.Equal(2, f.Tensors.Count);
        var b = f.FindTensor("b")!;
        Assert.Equal(GgmlType.Q8_0, b.Type);
        Assert.Equal(new long[] { 64, 3 }, b.Shape);
        Assert.Equal(0, b.FileOffset % alignment);
        var data = f.TensorData(b);
        for (int i = 0; i < data.Length; i++) Assert.Equal((byte)(i * 7), data[i]);
        var a = f.TensorData(f.FindTensor("a")!);
        Assert.Equal(255, a[255]);
    }

    [Fact]
    public void MistypedKeyGivesClearError()
    {
        using var dir = new TempDir();
        using var f = GgufFile.Open(SampleFile(dir.Path));
        var e = Assert.Throws<GgufFormatException>(() => f.Metadata.GetUInt32("general.name"));
        Assert.Contains("general.name", e.Message);
        var m = Assert.Throws<GgufFormatException>(() => f.Metadata.GetString("llama.block_count"));
        Assert.Contains("llama.block_count", m.Message);
    }

    [Fact]
    public void WriteIsAtomicAndLeavesNoTemporaryFiles()
    {
        using var dir = new TempDir();
        SampleFile(dir.Path);
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}

