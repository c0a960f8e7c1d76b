using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Strata.Tensors;

namespace Strata.Tests.Support;

/// <summary>Writes safetensors files for tests: F32, F16 or BF16 tensors, or a raw header for malformed cases.</summary>
public static class SafetensorsWriter
{
    public sealed record Tensor(string Name, string DType, long[] Shape, float[] Values);

    /// <summary>Values as stored in that dtype (what a reader gets back).</summary>
    public static float[] Round(float[] values, string dtype) => dtype switch
    {
        "F32" => values,
        "F16" => values.Select(HalfBits.RoundToHalf).ToArray(),
        "BF16" => values.Select(HalfBits.RoundToBf16).ToArray(),
        _ => throw new ArgumentException(dtype),
    };

    public static void Write(string path, IEnumerable<Tensor> tensors, IDictionary<string, string>? metadata = null)
    {
        var header = new Dictionary<string, object>();
        if (metadata is not null) header["__metadata__"] = metadata;
        var data = new MemoryStream();
        var b = new byte[4];
        foreach (var t in tensors)
        {
            long begin = data.Length;
            foreach (float v in t.Values)
            {
                switch (t.DType)
                {
                    case "F32": BinaryPrimitives.WriteSingleLittleEndian(b, v); data.Write(b, 0, 4); break;
                    case "F16": BinaryPrimitives.WriteUInt16LittleEndian(b, HalfBits.FromSingle(v)); data.Write(b, 0, 2); break;
                    case "BF16": BinaryPrimitives.WriteUInt16LittleEndian(b, HalfBits.Bf16FromSingle(v)); data.Write(b, 0, 2); break;
                    default: throw new ArgumentException(t.DType);
                }
            }
            header[t.Name] = new { dtype = t.DType, shape = t.Shape, data_offsets = new[] { begin, data.Length } };
        }
        WriteRaw(path, JsonSerializer.Serialize(header), data.ToArray());
    }

    /// <summary>An 8-byte length, the header text padded with spaces to a multiple of 8, then the data.</summary>
    public static void WriteRaw(string path, string headerJson, byte[] data, ulong? lengthOverride = null)
    {
        var h = Encoding.UTF8.GetBytes(headerJson);
        int padded = (h.Length + 7) / 8 * 8;
        using var fs = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, lengthOverride ?? (ulong)padded);
        fs.Write(len);
        fs.Write(h);
        for (int i = h.Length; i < padded; i++) fs.WriteByte((byte)' ');
        fs.Write(data);
    }
}
