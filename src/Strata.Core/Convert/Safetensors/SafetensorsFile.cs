using Strata.IO;
using System.Text;
using System.Text.Json;
using Strata.Tensors;

namespace Strata.Conversion;

/// <summary>Element types a safetensors header may name.</summary>
public enum SafetensorsDType { Bool, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, F8_E4M3, F8_E5M2 }

/// <summary>One tensor of a safetensors file. <see cref="Shape"/> is row-major as written (outermost first, PyTorch order).</summary>
public sealed record SafetensorsTensor(string Name, SafetensorsDType DType, long[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
    public long ByteSize => End - Begin;
    /// <summary>Elements of the innermost dimension (1 for a scalar).</summary>
    public long Cols => Shape.Length == 0 ? 1 : Shape[^1];
    public long Rows => Cols == 0 ? 0 : ElementCount / Cols;
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// A safetensors file opened read-only and memory-mapped: an 8-byte little-endian header length, a JSON header naming
/// each tensor's dtype, shape and [begin, end) byte range in the data section that follows. Everything is validated
/// up front (header length, JSON, dtypes, shapes against byte sizes, ranges inside the file and not overlapping);
/// tensor bytes are read through the mapping, never copied as a whole.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    /// <summary>The format caps the header at 100 MB.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly MappedFile _mapped;
    private byte* _base;
    private readonly Dictionary<string, SafetensorsTensor> _byName;

    public string Path { get; }
    public long FileSize { get; }
    /// <summary>File offset of the data section (8 + header length).</summary>
    public long DataOffset { get; }
    public IReadOnlyList<SafetensorsTensor> Tensors { get; }
    /// <summary>The optional <c>__metadata__</c> string map.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafetensorsFile(string path, MappedFile mapped)
    {
        Path = path;
        _mapped = mapped;
        byte* basePtr = _base = mapped.Pointer;
        long size = FileSize = mapped.Length;
        string source = System.IO.Path.GetFileName(path);
        SafetensorsFormatException Bad(string what) => new($"{source}: {what}");

        ulong headerLen = *(ulong*)basePtr; // little-endian hosts only, as the rest of Strata
        if (headerLen > (ulong)(size - 8))
            throw Bad($"header length {headerLen} runs past the end of the file ({size} bytes)");
        if (headerLen > MaxHeaderBytes) throw Bad($"header length {headerLen} exceeds the format's limit of {MaxHeaderBytes} bytes");
        if (headerLen < 2) throw Bad($"header length {headerLen} is too short for a JSON object");
        DataOffset = 8 + (long)headerLen;
        long dataBytes = size - DataOffset;

        var header = new ReadOnlySpan<byte>(basePtr + 8, (int)headerLen);
        if (header[0] != (byte)'{') throw Bad("header does not start with '{' (not a safetensors file?)");
        var tensors = new List<SafetensorsTensor>();
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(header.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad("header is not a JSON object");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(p.Name)) throw Bad($"duplicate header entry '{p.Name}'");
                if (p.Name == "__metadata__")
                {
                    if (p.Value.ValueKind != JsonValueKind.Object) throw Bad("__metadata__ is not an object");
                    foreach (var m in p.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw Bad($"__metadata__ entry '{m.Name}' is not a string");
                        meta[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                tensors.Add(ParseTensor(p.Name, p.Value, Bad));
            }
        }
        catch (JsonException e)
        {
            throw Bad($"header is not valid JSON: {e.Message}");
        }
        catch (DecoderFallbackException e)
        {
            throw Bad($"header is not valid UTF-8: {e.Message}");
        }

        foreach (var t in tensors)
            if (t.End > dataBytes)
                throw Bad($"tensor '{t.Name}' data [{t.Begin}, {t.End}) runs past the end of the data section ({dataBytes} bytes; truncated?)");
        var sorted = tensors.Where(t => t.ByteSize > 0).OrderBy(t => t.Begin).ToArray();
        for (int i = 1; i < sorted.Length; i++)
            if (sorted[i - 1].End > sorted[i].Begin)
                throw Bad($"tensor '{sorted[i].Name}' data [{sorted[i].Begin}, {sorted[i].End}) overlaps tensor '{sorted[i - 1].Name}' [{sorted[i - 1].Begin}, {sorted[i - 1].End})");
        Tensors = tensors;
        Metadata = meta;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    private static SafetensorsTensor ParseTensor(string name, JsonElement e, Func<string, SafetensorsFormatException> bad)
    {
        if (e.ValueKind != JsonValueKind.Object) throw bad($"tensor '{name}' entry is not an object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw bad($"tensor '{name}' has no dtype");
        string dtype = dt.GetString()!;
        if (!Enum.GetNames<SafetensorsDType>().Contains(dtype) || !Enum.TryParse<SafetensorsDType>(dtype, ignoreCase: false, out var type))
            throw bad($"tensor '{name}' has unknown dtype '{dtype}'");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw bad($"tensor '{name}' has no shape");
        var shape = new long[sh.GetArrayLength()];
        long elements = 1;
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0)
                throw bad($"tensor '{name}' shape has an invalid dimension {d.GetRawText()}");
            shape[i++] = v;
            if (v != 0 && elements > long.MaxValue / v) throw bad($"tensor '{name}' shape overflows");
            elements *= v;
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw bad($"tensor '{name}' needs data_offsets [begin, end]");
        if (!off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw bad($"tensor '{name}' has invalid data_offsets {off.GetRawText()}");
        int size = ElementBytes(type);
        if (elements > long.MaxValue / size || elements * size != end - begin)
            throw bad($"tensor '{name}' of {dtype} {ShapeText(shape)} needs {(elements <= long.MaxValue / size ? elements * size : -1)} bytes, but data_offsets give {end - begin}");
        return new SafetensorsTensor(name, type, shape, begin, end);
    }

    private static string ShapeText(long[] s) => "[" + string.Join(", ", s) + "]";

    public static int ElementBytes(SafetensorsDType t) => t switch
    {
        SafetensorsDType.Bool or SafetensorsDType.U8 or SafetensorsDType.I8 or SafetensorsDType.F8_E4M3 or SafetensorsDType.F8_E5M2 => 1,
        SafetensorsDType.I16 or SafetensorsDType.U16 or SafetensorsDType.F16 or SafetensorsDType.BF16 => 2,
        SafetensorsDType.I32 or SafetensorsDType.U32 or SafetensorsDType.F32 => 4,
        _ => 8,
    };

    /// <summary>Opens, maps and validates a safetensors file; every fault is one <see cref="StrataException"/>.</summary>
    public static SafetensorsFile Open(string path)
    {
        string name = System.IO.Path.GetFileName(path);
        var mapped = MappedFile.Open(path, "a safetensors file", 8,
            size => new SafetensorsFormatException($"{name}: file is {size} bytes, too short for the 8-byte header length"));
        try
        {
            return new SafetensorsFile(path, mapped);
        }
        catch
        {
            mapped.Dispose();
            throw;
        }
    }

    public SafetensorsTensor? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Pointer to the tensor's first byte in the mapping; valid until the file is disposed.</summary>
    public nint Pointer(SafetensorsTensor t)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        return (nint)(_base + DataOffset + t.Begin);
    }

    /// <summary>
    /// Reads row <paramref name="row"/> (of <see cref="SafetensorsTensor.Cols"/> elements) as floats. F32, F16 and BF16
    /// convert exactly; other dtypes are refused.
    /// </summary>
    public void ReadRow(SafetensorsTensor t, long row, Span<float> dst)
    {
        long cols = t.Cols;
        if (dst.Length != cols) throw new ArgumentException($"row of {cols} elements, buffer of {dst.Length}");
        if ((ulong)row >= (ulong)t.Rows) throw new ArgumentOutOfRangeException(nameof(row));
        int es = ElementBytes(t.DType);
        var bytes = new ReadOnlySpan<byte>((byte*)Pointer(t) + row * cols * es, (int)(cols * es));
        switch (t.DType)
        {
            case SafetensorsDType.F32: Dequantize.Row(GgmlType.F32, bytes, dst); break;
            case SafetensorsDType.F16: Dequantize.Row(GgmlType.F16, bytes, dst); break;
            case SafetensorsDType.BF16: Dequantize.Row(GgmlType.BF16, bytes, dst); break;
            default: throw new StrataException($"{System.IO.Path.GetFileName(Path)}: tensor '{t.Name}' has dtype {t.DType}; only F32, F16 and BF16 can be converted");
        }
    }

    public void Dispose()
    {
        if (_base == null) return;
        _base = null;
        _mapped.Dispose();
    }
}

/// <summary>A safetensors file is malformed; the message names the file and the fault.</summary>
public sealed class SafetensorsFormatException(string message) : StrataException(message);
