using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Strata.Tensors;

namespace Strata.Gguf;

/// <summary>
/// Writes GGUF v3 files: metadata in the order added, tensor infos, then tensor data, each tensor aligned.
/// The file is written to a temporary name beside the target and renamed into place, so readers never see half a
/// file; a SHA-256 of the tensor data is stored under <see cref="DataChecksumKey"/>.
/// </summary>
public sealed class GgufWriter
{
    /// <summary>Hex SHA-256 of the tensor data section (from its first byte to the end of the file).</summary>
    public const string DataChecksumKey = "strata.data_sha256";

    private readonly List<(string Key, GgufValueType Type, object Value)> _kv = new();
    private readonly List<PendingTensor> _tensors = new();

    private sealed record PendingTensor(string Name, GgmlType Type, long[] Shape, long ByteSize, Action<Stream> Write);

    public uint Alignment { get; set; } = GgufFile.DefaultAlignment;

    public void Add(string key, string value) => Set(key, GgufValueType.String, value);
    public void Add(string key, uint value) => Set(key, GgufValueType.UInt32, value);
    public void Add(string key, int value) => Set(key, GgufValueType.Int32, value);
    public void Add(string key, ulong value) => Set(key, GgufValueType.UInt64, value);
    public void Add(string key, float value) => Set(key, GgufValueType.Float32, value);
    public void Add(string key, bool value) => Set(key, GgufValueType.Bool, value);
    public void Add(string key, string[] value) => Set(key, GgufValueType.Array, new GgufArray(GgufValueType.String, value));
    public void Add(string key, float[] value) => Set(key, GgufValueType.Array, new GgufArray(GgufValueType.Float32, value));
    public void Add(string key, int[] value) => Set(key, GgufValueType.Array, new GgufArray(GgufValueType.Int32, value));

    /// <summary>Adds any value as read from another file (used to copy metadata across).</summary>
    public void Add(string key, GgufValue value) => Set(key, value.Type, value.Value);

    public void AddArray(string key, GgufArray array) => Set(key, GgufValueType.Array, array);

    public bool Remove(string key) => _kv.RemoveAll(e => e.Key == key) > 0;

    private void Set(string key, GgufValueType type, object value)
    {
        if (key == "general.alignment")
        {
            Alignment = System.Convert.ToUInt32(value, System.Globalization.CultureInfo.InvariantCulture);
            if (Alignment == 0 || (Alignment & (Alignment - 1)) != 0) throw new ArgumentException("alignment must be a power of two");
        }
        int i = _kv.FindIndex(e => e.Key == key);
        if (i >= 0) _kv[i] = (key, type, value);
        else _kv.Add((key, type, value));
    }

    /// <summary>Adds a tensor whose bytes are in memory. <paramref name="shape"/> is in GGUF order (ne0 first).</summary>
    public void AddTensor(string name, GgmlType type, long[] shape, byte[] data)
    {
        long size = TensorBytes(name, type, shape);
        if (data.Length != size) throw new ArgumentException($"tensor '{name}': {data.Length} bytes given, {type} {string.Join('x', shape)} needs {size}");
        AddTensor(name, type, shape, s => s.Write(data));
    }

    /// <summary>Adds a tensor whose bytes are produced while writing, so large tensors need not be held in memory.</summary>
    public void AddTensor(string name, GgmlType type, long[] shape, Action<Stream> writeData)
    {
        if (_tensors.Any(t => t.Name == name)) throw new ArgumentException($"duplicate tensor '{name}'");
        _tensors.Add(new PendingTensor(name, type, (long[])shape.Clone(), TensorBytes(name, type, shape), writeData));
    }

    public static long TensorBytes(string name, GgmlType type, long[] shape)
    {
        if (shape.Length is 0 or > 4 || shape.Any(d => d <= 0)) throw new ArgumentException($"tensor '{name}': bad shape [{string.Join(", ", shape)}]");
        long elements = shape.Aggregate(1L, (a, b) => checked(a * b));
        if (shape[0] % GgmlTypeInfo.BlockSize(type) != 0)
            throw new ArgumentException($"tensor '{name}': row of {shape[0]} is not a multiple of {type}'s block size {GgmlTypeInfo.BlockSize(type)}");
        return elements / GgmlTypeInfo.BlockSize(type) * GgmlTypeInfo.BlockBytes(type);
    }

    /// <summary>Writes the file atomically (temporary file, flush to disk, rename).</summary>
    public void Write(string path)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20))
            {
                WriteTo(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    private void WriteTo(FileStream fs)
    {
        // Placeholder checksum of fixed length: patched in place once the data has been hashed.
        Set(DataChecksumKey, GgufValueType.String, new string('0', 64));
        var header = new MemoryStream();
        var w = new BinaryWriter(header, Encoding.UTF8, leaveOpen: true);
        w.Write(GgufFile.Magic);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_kv.Count);
        long checksumValueAt = -1;
        foreach (var (key, type, value) in _kv)
        {
            WriteString(w, key);
            w.Write((uint)type);
            if (key == DataChecksumKey) checksumValueAt = header.Position + 8;
            WriteValue(w, type, value);
        }
        long offset = 0;
        var offsets = new long[_tensors.Count];
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            WriteString(w, t.Name);
            w.Write((uint)t.Shape.Length);
            foreach (var d in t.Shape) w.Write((ulong)d);
            w.Write((uint)t.Type);
            w.Write((ulong)offset);
            offsets[i] = offset;
            offset = GgufFile.AlignUp(offset + t.ByteSize, Alignment);
        }
        w.Flush();
        long dataStart = GgufFile.AlignUp(header.Length, Alignment);
        header.SetLength(dataStart);
        fs.Write(header.GetBuffer(), 0, (int)dataStart);

        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var hashing = new HashingStream(fs, sha);
        var zeros = new byte[Alignment];
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            long pad = offsets[i] - (hashing.Written);
            if (pad > 0) hashing.Write(zeros, 0, (int)pad);
            long before = hashing.Written;
            t.Write(hashing);
            if (hashing.Written - before != t.ByteSize)
                throw new InvalidOperationException($"tensor '{t.Name}': {hashing.Written - before} bytes written, {t.ByteSize} expected");
        }
        string hex = System.Convert.ToHexStringLower(sha.GetHashAndReset());
        fs.Position = checksumValueAt;
        fs.Write(Encoding.ASCII.GetBytes(hex));
        fs.Position = fs.Length;
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValueType type, object value)
    {
        switch (type)
        {
            case GgufValueType.UInt8: w.Write(System.Convert.ToByte(value)); break;
            case GgufValueType.Int8: w.Write(System.Convert.ToSByte(value)); break;
            case GgufValueType.UInt16: w.Write(System.Convert.ToUInt16(value)); break;
            case GgufValueType.Int16: w.Write(System.Convert.ToInt16(value)); break;
            case GgufValueType.UInt32: w.Write(System.Convert.ToUInt32(value)); break;
            case GgufValueType.Int32: w.Write(System.Convert.ToInt32(value)); break;
            case GgufValueType.Float32: w.Write(System.Convert.ToSingle(value)); break;
            case GgufValueType.Bool: w.Write((byte)((bool)value ? 1 : 0)); break;
            case GgufValueType.String: WriteString(w, (string)value); break;
            case GgufValueType.UInt64: w.Write(System.Convert.ToUInt64(value)); break;
            case GgufValueType.Int64: w.Write(System.Convert.ToInt64(value)); break;
            case GgufValueType.Float64: w.Write(System.Convert.ToDouble(value)); break;
            case GgufValueType.Array:
            {
                var a = (GgufArray)value;
                w.Write((uint)a.ElementType);
                w.Write((ulong)a.Items.Length);
                foreach (var item in a.Items) WriteValue(w, a.ElementType, item!);
                break;
            }
            default: throw new ArgumentException($"unknown GGUF value type {type}");
        }
    }

    /// <summary>Forwards writes to the file while hashing them and counting bytes.</summary>
    private sealed class HashingStream(Stream inner, IncrementalHash hash) : Stream
    {
        public long Written { get; private set; }
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            hash.AppendData(buffer);
            inner.Write(buffer);
            Written += buffer.Length;
        }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Written;
        public override long Position { get => Written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
