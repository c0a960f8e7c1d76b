using System.Buffers.Binary;
using Strata.IO;

namespace Strata.Kv.Tiers;

/// <summary>
/// The on-disk record of one block (format version 1), little-endian:
/// <code>
/// [0, 4096)  header: magic "STRKVBLK" | u32 version | u32 header bytes | fingerprint (16) | block hash (16)
///            | u32 kv type | u32 block tokens | u32 layers | u32 kv dim | u64 payload bytes | u32 payload CRC-32C
///            | zeros … | u32 CRC-32C of the header's first 4092 bytes
/// [4096, …)  payload: the block's bytes as <see cref="KvLayout"/> lays them out, zero-padded to a multiple of 4096
/// </code>
/// The header fills one page so that the payload is aligned for direct I/O. Anything that does not match — magic,
/// version, fingerprint, hash, geometry, either checksum, the length — makes the file a miss.
/// </summary>
internal static class KvBlockFile
{
    public const int Version = 1;
    public const int HeaderBytes = 4096;
    private static ReadOnlySpan<byte> Magic => "STRKVBLK"u8;

    public static int FileBytes(int blockBytes) => HeaderBytes + RoundUp(blockBytes);

    public static int RoundUp(int bytes) => (bytes + DirectIo.Alignment - 1) / DirectIo.Alignment * DirectIo.Alignment;

    public static void WriteHeader(Span<byte> header, BlockHash fingerprint, BlockHash key, KvLayout layout, ReadOnlySpan<byte> payload)
    {
        header[..HeaderBytes].Clear();
        Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], HeaderBytes);
        fingerprint.Write(header[16..]);
        key.Write(header[32..]);
        BinaryPrimitives.WriteUInt32LittleEndian(header[48..], (uint)layout.Type);
        BinaryPrimitives.WriteUInt32LittleEndian(header[52..], (uint)layout.BlockTokens);
        BinaryPrimitives.WriteUInt32LittleEndian(header[56..], (uint)layout.Layers);
        BinaryPrimitives.WriteUInt32LittleEndian(header[60..], (uint)layout.KvDim);
        BinaryPrimitives.WriteUInt64LittleEndian(header[64..], (ulong)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[72..], Crc32C.Compute(payload));
        BinaryPrimitives.WriteUInt32LittleEndian(header[(HeaderBytes - 4)..], Crc32C.Compute(header[..(HeaderBytes - 4)]));
    }

    /// <summary>Null when the record is a valid block of this model and key; otherwise what is wrong with it.</summary>
    public static string? Check(ReadOnlySpan<byte> record, BlockHash fingerprint, BlockHash key, KvLayout layout) =>
        record.Length < HeaderBytes ? "truncated header" : Check(record[..HeaderBytes], record[HeaderBytes..], fingerprint, key, layout);

    /// <summary>The same check on a header and a payload read into separate buffers.</summary>
    public static string? Check(ReadOnlySpan<byte> h, ReadOnlySpan<byte> payload, BlockHash fingerprint, BlockHash key, KvLayout layout)
    {
        if (h.Length < HeaderBytes) return "truncated header";
        h = h[..HeaderBytes];
        if (!h[..8].SequenceEqual(Magic)) return "not a Strata KV block";
        if (BinaryPrimitives.ReadUInt32LittleEndian(h[(HeaderBytes - 4)..]) != Crc32C.Compute(h[..(HeaderBytes - 4)])) return "header checksum mismatch";
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
        if (version != Version) return $"format version {version} (this build reads {Version})";
        if (BlockHash.Read(h[16..]) != fingerprint) return "another model's block";
        if (BlockHash.Read(h[32..]) != key) return "block hash differs from its name";
        if (BinaryPrimitives.ReadUInt32LittleEndian(h[48..]) != (uint)layout.Type
            || BinaryPrimitives.ReadUInt32LittleEndian(h[52..]) != (uint)layout.BlockTokens
            || BinaryPrimitives.ReadUInt32LittleEndian(h[56..]) != (uint)layout.Layers
            || BinaryPrimitives.ReadUInt32LittleEndian(h[60..]) != (uint)layout.KvDim) return "another KV layout";
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(h[64..]);
        if (length != (ulong)layout.BlockBytes) return $"payload of {length} bytes, {layout.BlockBytes} expected";
        if (payload.Length < layout.BlockBytes) return "truncated payload";
        if (BinaryPrimitives.ReadUInt32LittleEndian(h[72..]) != Crc32C.Compute(payload[..layout.BlockBytes])) return "payload checksum mismatch";
        return null;
    }
}
