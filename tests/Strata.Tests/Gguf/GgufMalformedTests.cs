using System.Buffers.Binary;
using System.Diagnostics;
using Strata.Gguf;
using Strata.Tensors;
using Strata.Tests.Support;

namespace Strata.Tests.Gguf;

/// <summary>
/// A corpus of broken files: each must give one clear <see cref="StrataException"/> within a second,
/// never another exception type, a hang, or a crash of the test host.
/// </summary>
public class GgufMalformedTests
{
    private static void ExpectCleanFailure(byte[] bytes, string dir, string label, bool mayOpen = false)
    {
        string path = Path.Combine(dir, "bad.gguf");
        File.WriteAllBytes(path, bytes);
        var sw = Stopwatch.StartNew();
        try
        {
            using var f = GgufFile.Open(path);
            if (!mayOpen) Assert.Fail($"{label}: malformed file opened without error");
        }
        catch (StrataException e)
        {
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
            Assert.DoesNotContain("\n", e.Message);
        }
        catch (Exception e)
        {
            Assert.Fail($"{label}: {e.GetType().Name} instead of a clear error: {e.Message}");
        }
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1), $"{label}: took {sw.Elapsed}");
    }

    [Fact]
    public void TruncatedAtEveryOffsetFails()
    {
        using var dir = new TempDir();
        var good = File.ReadAllBytes(GgufRoundTripTests.SampleFile(dir.Path));
        for (int len = 0; len < good.Length; len++)
        {
            // Cutting only the padding after the last tensor leaves a valid file.
            ExpectCleanFailure(good[..len], dir.Path, $"truncated at {len}");
        }
    }

    [Fact]
    public void HugeValuesInEveryHeaderFieldFail()
    {
        using var dir = new TempDir();
        string goodPath = GgufRoundTripTests.SampleFile(dir.Path);
        long dataOffset;
        using (var f = GgufFile.Open(goodPath)) dataOffset = f.DataOffset;
        var good = File.ReadAllBytes(goodPath);
        ulong[] hostile = { ulong.MaxValue, long.MaxValue, 1UL << 32, (ulong)good.Length, 0x7FFFFFFF };
        // Every 4-byte position in the header: a u64/u32 count, length, type, dim or offset gets each hostile value.
        for (int at = 4; at + 8 <= dataOffset; at += 4)
        {
            foreach (var v in hostile)
            {
                var bad = (byte[])good.Clone();
                BinaryPrimitives.WriteUInt64LittleEndian(bad.AsSpan(at), v);
                ExpectCleanFailure(bad, dir.Path, $"0x{v:X} at {at}", mayOpen: true);
            }
        }
    }

    [Fact]
    public void RandomCorruptionNeverEscapesAsAnotherException()
    {
        using var dir = new TempDir();
        string goodPath = GgufRoundTripTests.SampleFile(dir.Path);
        var good = File.ReadAllBytes(goodPath);
        var rng = new Random(1234);
        for (int trial = 0; trial < 400; trial++)
        {
            var bad = (byte[])good.Clone();
            int flips = 1 + rng.Next(4);
            for (int k = 0; k < flips; k++) bad[rng.Next(Math.Min(bad.Length, 600))] = (byte)rng.Next(256);
            ExpectCleanFailure(bad, dir.Path, $"trial {trial}", mayOpen: true);
        }
    }

    [Fact]
    public void SpecificFaultsNameWhatIsWrong()
    {
        using var dir = new TempDir();
        Check(dir.Path, w => { }, b => b[0] = (byte)'X', "not a GGUF file");
        Check(dir.Path, w => { }, b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), 7), "unsupported GGUF version 7");
        Check(dir.Path, w => { }, b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), ulong.MaxValue), "tensor count");
        Check(dir.Path, w => w.AddTensor("t2", GgmlType.F32, new long[] { 8 }, new byte[32]),
            b => PatchTensorOffset(b, "t2", 0), "overlaps");
        Check(dir.Path, w => { }, b => PatchTensorOffset(b, "t", 3), "alignment");
        Check(dir.Path, w => { }, b => PatchTensorOffset(b, "t", 1 << 20), "past the end");
        Check(dir.Path, w => { }, b => PatchTensorType(b, "t", 200), "unknown type id 200");
        Check(dir.Path, w => w.Add("k", "v"), b => PatchFirst(b, "k"u8.ToArray(), 1, 99), "unknown value type 99");
        Check(dir.Path, w => w.Add("general.alignment", 32u), b => { }, null);
    }

    private static void Check(string dir, Action<GgufWriter> build, Action<byte[]> corrupt, string? expected)
    {
        var w = new GgufWriter();
        w.Add("general.architecture", "llama");
        w.AddTensor("t", GgmlType.F32, new long[] { 8 }, new byte[32]);
        build(w);
        string path = Path.Combine(dir, "x.gguf");
        w.Write(path);
        var bytes = File.ReadAllBytes(path);
        corrupt(bytes);
        File.WriteAllBytes(path, bytes);
        if (expected is null)
        {
            using var ok = GgufFile.Open(path);
            return;
        }
        var e = Assert.ThrowsAny<StrataException>(() => GgufFile.Open(path).Dispose());
        Assert.Contains(expected, e.Message);
        Assert.Contains("x.gguf", e.Message);
    }

    private static int IndexOf(byte[] b, byte[] pattern)
    {
        for (int i = 0; i + pattern.Length <= b.Length; i++)
            if (b.AsSpan(i, pattern.Length).SequenceEqual(pattern)) return i;
        throw new InvalidOperationException("pattern not found");
    }

    // Tensor info layout after the name: n_dims u32, dims u64 × n, type u32, offset u64.
    private static int TensorInfoAt(byte[] b, string name)
    {
        var pattern = new byte[8 + name.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(pattern, (ulong)name.Length);
        System.Text.Encoding.UTF8.GetBytes(name).CopyTo(pattern, 8);
        return IndexOf(b, pattern) + pattern.Length;
    }

    private static void PatchTensorOffset(byte[] b, string name, ulong offset)
    {
        int p = TensorInfoAt(b, name);
        uint nd = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p));
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(p + 4 + 8 * (int)nd + 4), offset);
    }

    private static void PatchTensorType(byte[] b, string name, uint type)
    {
        int p = TensorInfoAt(b, name);
        uint nd = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(p + 4 + 8 * (int)nd), type);
    }

    private static void PatchFirst(byte[] b, byte[] key, int after, uint value)
    {
        var pattern = new byte[8 + key.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(pattern, (ulong)key.Length);
        key.CopyTo(pattern, 8);
        int p = IndexOf(b, pattern) + pattern.Length;
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(p), value);
    }
}
