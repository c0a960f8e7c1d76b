using Strata.IO;
using Strata.Tensors;

namespace Strata.Gguf;

/// <summary>
/// A GGUF file (versions 2 and 3) opened read-only and memory-mapped: metadata and tensor infos are parsed and
/// validated up front; tensor data is reached through views of the mapping, never copied.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    public const uint Magic = 0x46554747; // "GGUF" read as little-endian uint32
    public const uint DefaultAlignment = 32;
    private const int MaxArrayNesting = 8;
    private const int MaxDims = 4;

    private readonly MappedFile _mapped;
    private byte* _base;

    public string Path { get; }
    public long FileSize { get; }
    public uint Version { get; }
    public uint Alignment { get; }
    /// <summary>File offset where the tensor data section starts.</summary>
    public long DataOffset { get; }
    public GgufMetadata Metadata { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    private readonly Dictionary<string, GgufTensorInfo> _byName;

    private GgufFile(string path, MappedFile mapped)
    {
        Path = path;
        _mapped = mapped;
        byte* basePtr = _base = mapped.Pointer;
        long size = FileSize = mapped.Length;
        string source = System.IO.Path.GetFileName(path);
        var c = new GgufCursor(basePtr, size, source);

        uint magic = c.U32("magic");
        if (magic != Magic)
            throw c.Error($"not a GGUF file (magic 0x{magic:X8}, expected 0x{Magic:X8} \"GGUF\")", 0);
        uint version = c.U32("version");
        if (version is 0x02000000 or 0x03000000)
            throw c.Error("big-endian GGUF files are not supported", 4);
        if (version is not (2 or 3))
            throw c.Error($"unsupported GGUF version {version} (supported: 2, 3)", 4);
        Version = version;

        // Each tensor info takes at least 8 (name len) + 4 (n_dims) + 8 (one dim) + 4 (type) + 8 (offset) bytes;
        // each key/value at least 8 (key len) + 4 (type) + 1 byte.
        long tensorCount = c.Count("tensor count", 32);
        long kvCount = c.Count("metadata key/value count", 13);

        var entries = new List<KeyValuePair<string, GgufValue>>((int)Math.Min(kvCount, 4096));
        var seenKeys = new HashSet<string>(StringComparer.Ordinal);
        for (long i = 0; i < kvCount; i++)
        {
            long at = c.Position;
            string key = c.String($"metadata key #{i}");
            if (!seenKeys.Add(key)) throw c.Error($"duplicate metadata key '{key}'", at);
            var type = (GgufValueType)c.U32($"type of metadata key '{key}'");
            var value = ReadValue(c, type, key, 0);
            entries.Add(new(key, value));
        }
        Metadata = new GgufMetadata(source, entries);

        uint alignment = DefaultAlignment;
        if (Metadata.TryGet("general.alignment") is { } alignValue)
        {
            if (alignValue.Value is not uint a)
                throw new GgufFormatException($"{source}: general.alignment must be uint32, found {alignValue.Type}");
            if (a == 0 || (a & (a - 1)) != 0)
                throw new GgufFormatException($"{source}: general.alignment = {a} is not a power of two");
            alignment = a;
        }
        Alignment = alignment;

        var infos = new List<GgufTensorInfo>((int)Math.Min(tensorCount, 65536));
        _byName = new Dictionary<string, GgufTensorInfo>(StringComparer.Ordinal);
        for (long i = 0; i < tensorCount; i++)
        {
            long at = c.Position;
            var info = ReadTensorInfo(c, i, alignment);
            if (!_byName.TryAdd(info.Name, info)) throw c.Error($"duplicate tensor name '{info.Name}'", at);
            infos.Add(info);
        }

        long dataOffset = AlignUp(c.Position, alignment);
        if (tensorCount > 0 && dataOffset > size)
            throw c.Error($"tensor data section would start at {dataOffset}, past the end of the file ({size} bytes)");
        DataOffset = dataOffset;
        long dataBytes = size - dataOffset;

        // Bounds and overlaps: sort by offset, each must end before the next begins and inside the file.
        var sorted = infos.OrderBy(t => t.Offset).ToArray();
        for (int i = 0; i < sorted.Length; i++)
        {
            var t = sorted[i];
            if (t.Offset > dataBytes || t.ByteSize > dataBytes - t.Offset)
                throw new GgufFormatException(
                    $"{source}: tensor '{t.Name}' data [{dataOffset + t.Offset}, {dataOffset + t.Offset + t.ByteSize}) runs past the end of the file ({size} bytes; truncated?)");
            if (i > 0)
            {
                var p = sorted[i - 1];
                if (p.Offset + p.ByteSize > t.Offset)
                    throw new GgufFormatException(
                        $"{source}: tensor '{t.Name}' at data offset {t.Offset} overlaps tensor '{p.Name}' ([{p.Offset}, {p.Offset + p.ByteSize}))");
            }
        }
        Tensors = infos.Select(t => t with { FileOffset = dataOffset + t.Offset }).ToArray();
        foreach (var t in Tensors) _byName[t.Name] = t;
    }

    /// <summary>Opens, maps and validates a GGUF file; any fault becomes one <see cref="GgufFormatException"/> or <see cref="StrataException"/>.</summary>
    public static GgufFile Open(string path)
    {
        string name = System.IO.Path.GetFileName(path);
        var mapped = MappedFile.Open(path, "a GGUF file", 24,
            size => new GgufFormatException($"{name}: file is {size} bytes, too short for a GGUF header (24 bytes)"));
        try
        {
            return new GgufFile(path, mapped);
        }
        catch
        {
            mapped.Dispose();
            throw;
        }
    }

    public bool TryGetTensor(string name, out GgufTensorInfo info) => _byName.TryGetValue(name, out info!);

    public GgufTensorInfo? FindTensor(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Pointer to the tensor's first byte inside the mapping; valid until the file is disposed.</summary>
    public nint TensorPointer(GgufTensorInfo t)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        return (nint)(_base + t.FileOffset);
    }

    /// <summary>The tensor's bytes as a span over the mapping (tensors over 2 GiB must use <see cref="TensorPointer"/>).</summary>
    /// <summary><paramref name="count"/> bytes of a tensor from <paramref name="offset"/>, for tensors of any size.</summary>
    public ReadOnlySpan<byte> TensorBytes(GgufTensorInfo t, long offset, int count)
    {
        if (offset < 0 || count < 0 || offset + count > t.ByteSize) throw new ArgumentOutOfRangeException(nameof(offset));
        return new ReadOnlySpan<byte>((byte*)TensorPointer(t) + offset, count);
    }

    public ReadOnlySpan<byte> TensorData(GgufTensorInfo t)
    {
        if (t.ByteSize > int.MaxValue) throw new StrataException($"tensor '{t.Name}' is {t.ByteSize} bytes: too large for one span");
        return new ReadOnlySpan<byte>((void*)TensorPointer(t), (int)t.ByteSize);
    }

    public void Dispose()
    {
        if (_base == null) return;
        _base = null;
        _mapped.Dispose();
    }

    internal static long AlignUp(long x, long alignment) => (x + alignment - 1) / alignment * alignment;

    private static GgufValue ReadValue(GgufCursor c, GgufValueType type, string key, int depth)
    {
        string what = $"value of '{key}'";
        return type switch
        {
            GgufValueType.UInt8 => new(type, c.U8(what)),
            GgufValueType.Int8 => new(type, (sbyte)c.U8(what)),
            GgufValueType.UInt16 => new(type, c.U16(what)),
            GgufValueType.Int16 => new(type, (short)c.U16(what)),
            GgufValueType.UInt32 => new(type, c.U32(what)),
            GgufValueType.Int32 => new(type, (int)c.U32(what)),
            GgufValueType.Float32 => new(type, c.F32(what)),
            GgufValueType.Bool => new(type, ReadBool(c, what)),
            GgufValueType.String => new(type, c.String(what)),
            GgufValueType.UInt64 => new(type, c.U64(what)),
            GgufValueType.Int64 => new(type, (long)c.U64(what)),
            GgufValueType.Float64 => new(type, c.F64(what)),
            GgufValueType.Array => new(type, ReadArray(c, key, depth)),
            _ => throw c.Error($"metadata key '{key}' has unknown value type {(uint)type}", c.Position - 4),
        };
    }

    private static bool ReadBool(GgufCursor c, string what)
    {
        long at = c.Position;
        byte b = c.U8(what);
        if (b > 1) throw c.Error($"{what} is a bool with byte value {b} (must be 0 or 1)", at);
        return b == 1;
    }

    private static GgufArray ReadArray(GgufCursor c, string key, int depth)
    {
        if (depth >= MaxArrayNesting) throw c.Error($"metadata key '{key}' nests arrays deeper than {MaxArrayNesting} levels");
        long at = c.Position;
        var et = (GgufValueType)c.U32($"element type of array '{key}'");
        if (et > GgufValueType.Float64) throw c.Error($"array '{key}' has unknown element type {(uint)et}", at);
        int fixedBytes = GgufArray.ElementBytes(et);
        // Strings need at least their 8-byte length, nested arrays 12 bytes of header.
        long minEach = fixedBytes > 0 ? fixedBytes : et == GgufValueType.String ? 8 : 12;
        long n = c.Count($"element count of array '{key}'", minEach);
        if (n > int.MaxValue) throw c.Error($"array '{key}' has {n} elements, more than Strata supports");
        int count = (int)n;
        string what = $"element of array '{key}'";
        switch (et)
        {
            case GgufValueType.UInt8: { var a = new byte[count]; for (int i = 0; i < count; i++) a[i] = c.U8(what); return new(et, a); }
            case GgufValueType.Int8: { var a = new sbyte[count]; for (int i = 0; i < count; i++) a[i] = (sbyte)c.U8(what); return new(et, a); }
            case GgufValueType.UInt16: { var a = new ushort[count]; for (int i = 0; i < count; i++) a[i] = c.U16(what); return new(et, a); }
            case GgufValueType.Int16: { var a = new short[count]; for (int i = 0; i < count; i++) a[i] = (short)c.U16(what); return new(et, a); }
            case GgufValueType.UInt32: { var a = new uint[count]; for (int i = 0; i < count; i++) a[i] = c.U32(what); return new(et, a); }
            case GgufValueType.Int32: { var a = new int[count]; for (int i = 0; i < count; i++) a[i] = (int)c.U32(what); return new(et, a); }
            case GgufValueType.Float32: { var a = new float[count]; for (int i = 0; i < count; i++) a[i] = c.F32(what); return new(et, a); }
            case GgufValueType.Bool: { var a = new bool[count]; for (int i = 0; i < count; i++) a[i] = ReadBool(c, what); return new(et, a); }
            case GgufValueType.String: { var a = new string[count]; for (int i = 0; i < count; i++) a[i] = c.String(what); return new(et, a); }
            case GgufValueType.UInt64: { var a = new ulong[count]; for (int i = 0; i < count; i++) a[i] = c.U64(what); return new(et, a); }
            case GgufValueType.Int64: { var a = new long[count]; for (int i = 0; i < count; i++) a[i] = (long)c.U64(what); return new(et, a); }
            case GgufValueType.Float64: { var a = new double[count]; for (int i = 0; i < count; i++) a[i] = c.F64(what); return new(et, a); }
            default:
            {
                var a = new GgufArray[count];
                for (int i = 0; i < count; i++) a[i] = (GgufArray)ReadValue(c, GgufValueType.Array, $"{key}[{i}]", depth + 1).Value;
                return new(et, a);
            }
        }
    }

    private static GgufTensorInfo ReadTensorInfo(GgufCursor c, long index, uint alignment)
    {
        long at = c.Position;
        string name = c.String($"name of tensor #{index}");
        uint nDims = c.U32($"dimension count of tensor '{name}'");
        if (nDims is 0 or > MaxDims) throw c.Error($"tensor '{name}' has {nDims} dimensions (must be 1 to {MaxDims})", c.Position - 4);
        var shape = new long[nDims];
        long elements = 1;
        for (int d = 0; d < nDims; d++)
        {
            long dimAt = c.Position;
            ulong ne = c.U64($"dimension {d} of tensor '{name}'");
            if (ne == 0 || ne > long.MaxValue) throw c.Error($"tensor '{name}' dimension {d} = {ne} is invalid", dimAt);
            shape[d] = (long)ne;
            if (elements > long.MaxValue / (long)ne) throw c.Error($"tensor '{name}' shape overflows: the element count exceeds 2^63", dimAt);
            elements *= (long)ne;
        }
        long typeAt = c.Position;
        var type = (GgmlType)c.U32($"type of tensor '{name}'");
        if (!GgmlTypeInfo.IsKnown(type)) throw c.Error($"tensor '{name}' has unknown type id {(uint)type}", typeAt);
        var (blockSize, blockBytes) = GgmlTypeInfo.Geometry(type);
        if (shape[0] % blockSize != 0)
            throw c.Error($"tensor '{name}' of type {type} has a row of {shape[0]} elements, not a multiple of the block size {blockSize}", at);
        long blocks = elements / blockSize;
        if (blocks > long.MaxValue / blockBytes) throw c.Error($"tensor '{name}' size overflows", at);
        long offAt = c.Position;
        ulong offset = c.U64($"data offset of tensor '{name}'");
        if (offset > long.MaxValue) throw c.Error($"tensor '{name}' data offset {offset} is out of range", offAt);
        if (offset % alignment != 0) throw c.Error($"tensor '{name}' data offset {offset} is not a multiple of the alignment {alignment}", offAt);
        return new GgufTensorInfo(name, type, shape, (long)offset, blocks * blockBytes);
    }
}
