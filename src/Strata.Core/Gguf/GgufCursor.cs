using System.Buffers.Binary;
using System.Text;

namespace Strata.Gguf;

/// <summary>
/// Bounds-checked little-endian reads over the mapped file. Every read checks the bytes left first, so a corrupt count
/// or length can never read past the end or drive an allocation larger than the file itself.
/// </summary>
internal unsafe sealed class GgufCursor
{
    private readonly byte* _base;
    private readonly string _source;

    public GgufCursor(byte* basePtr, long length, string source)
    {
        _base = basePtr;
        Length = length;
        _source = source;
    }

    public long Length { get; }
    public long Position { get; set; }
    public long Remaining => Length - Position;

    public GgufFormatException Error(string what, long? at = null) =>
        new($"{_source}: at offset {at ?? Position} (0x{at ?? Position:X}): {what}");

    private void Need(long bytes, string what)
    {
        if (bytes < 0 || bytes > Remaining)
            throw Error($"{what} needs {bytes} bytes but the file ends after {Remaining} (truncated or corrupt)");
    }

    private ReadOnlySpan<byte> Take(int bytes, string what)
    {
        Need(bytes, what);
        var span = new ReadOnlySpan<byte>(_base + Position, bytes);
        Position += bytes;
        return span;
    }

    public byte U8(string what) => Take(1, what)[0];
    public ushort U16(string what) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, what));
    public uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));
    public ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));
    public float F32(string what) => BinaryPrimitives.ReadSingleLittleEndian(Take(4, what));
    public double F64(string what) => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, what));

    /// <summary>A length-prefixed UTF-8 string; the length is checked against the bytes left before anything is allocated.</summary>
    public string String(string what)
    {
        long at = Position;
        ulong len = U64(what + " length");
        if (len > (ulong)Remaining)
            throw Error($"{what} length {len} exceeds the {Remaining} bytes left in the file", at);
        if (len > int.MaxValue) throw Error($"{what} length {len} is larger than Strata accepts for one string", at);
        return Encoding.UTF8.GetString(Take((int)len, what));
    }

    /// <summary>Reads a count and checks that <paramref name="minBytesEach"/> × count bytes are left.</summary>
    public long Count(string what, long minBytesEach)
    {
        long at = Position;
        ulong n = U64(what);
        if (n > (ulong)Remaining / (ulong)Math.Max(1, minBytesEach))
            throw Error($"{what} {n} is impossible: the {Remaining} bytes left hold at most {Remaining / Math.Max(1, minBytesEach)}", at);
        return (long)n;
    }
}
