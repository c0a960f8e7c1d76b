using System.Buffers.Binary;
using Strata.IO;

namespace Strata.Kv.Tiers;

/// <summary>
/// The self-checking record of one block (format version 1), little-endian, shared by every tier that keeps blocks
/// outside the process: a header, then the block's bytes as <see cref="KvLayout"/> lays them out.
/// <code>
/// header: magic "STRKVBLK" | u32 version | u32 header bytes H | fingerprint (16) | block hash (16)
///         | u32 kv type | u32 block tokens | u32 layers | u32 kv dim | u64 payload bytes | u32 payload CRC-32C
///         | zeros … | u32 CRC-32C of the header's first H − 4 bytes
/// </code>
/// A block file pads the header to one 4 KiB page (so the payload is aligned for direct I/O, <see cref="KvBlockFile"/>);
/// a value in a remote store uses the compact <see cref="CompactHeaderBytes"/>. Anything that does not match —
/// magic, version, header size, fingerprint, hash, geometry, either checksum, the length — makes the record a miss.
/// </summary>
public static class KvBlockRecord
{
    public const int Version = 1;
    /// <summary>The smallest header: the fields and the header's own checksum, no padding (remote values).</summary>
    public const int CompactHeaderBytes = 80;
    private static ReadOnlySpan<byte> Magic => "STRKVBLK"u8;

    /// <summary>Bytes of a compact record of a block of <paramref name="layout"/>.</summary>
    public static int CompactBytes(KvLayout layout) => CompactHeaderBytes + layout.BlockBytes;

    /// <summary>A compact record of <paramref name="payload"/> (one block) in a new array, for a remote store.</summary>
    public static byte[] EncodeCompact(BlockHash fingerprint, BlockHash key, KvLayout layout, ReadOnlySpan<byte> payload)
    {
        var record = new byte[CompactHeaderBytes + payload.Length];
        WriteHeader(record, CompactHeaderBytes, fingerprint, key, layout, payload);
        payload.CopyTo(record.AsSpan(CompactHeaderBytes));
        return record;
    }

    /// <summary>Null when <paramref name="record"/> is exactly a compact record of this model's block <paramref name="key"/>.</summary>
    public static string? CheckCompact(ReadOnlySpan<byte> record, BlockHash fingerprint, BlockHash key, KvLayout layout)
    {
        if (record.Length < CompactHeaderBytes) return $"{record.Length} bytes, shorter than a record header";
        if (record.Length != CompactBytes(layout)) return $"{record.Length} bytes, {CompactBytes(layout)} expected";
        return Check(record[..CompactHeaderBytes], record[CompactHeaderBytes..], CompactHeaderBytes, fingerprint, key, layout);
    }

    public static void WriteHeader(Span<byte> header, int headerBytes, BlockHash fingerprint, BlockHash key, KvLayout layout, ReadOnlySpan<byte> payload)
    {
        if (headerBytes < CompactHeaderBytes) throw new ArgumentOutOfRangeException(nameof(headerBytes));
        header[..headerBytes].Clear();
        Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], (uint)headerBytes);
        fingerprint.Write(header[16..]);
        key.Write(header[32..]);
        BinaryPrimitives.WriteUInt32LittleEndian(header[48..], (uint)layout.Type);
        BinaryPrimitives.WriteUInt32LittleEndian(header[52..], (uint)layout.BlockTokens);
        BinaryPrimitives.WriteUInt32LittleEndian(header[56..], (uint)layout.Layers);
        BinaryPrimitives.WriteUInt32LittleEndian(header[60..], (uint)layout.KvDim);
        BinaryPrimitives.WriteUInt64LittleEndian(header[64..], (ulong)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[72..], Crc32C.Compute(payload));
        BinaryPrimitives.WriteUInt32LittleEndian(header[(headerBytes - 4)..], Crc32C.Compute(header[..(headerBytes - 4)]));
    }

    /// <summary>Null when the header and payload are a valid block of this model and key; otherwise what is wrong.</summary>
    public static string? Check(ReadOnlySpan<byte> h, ReadOnlySpan<byte> payload, int headerBytes, BlockHash fingerprint, BlockHash key, KvLayout layout)
    {
        if (h.Length < headerBytes) return "truncated header";
        h = h[..headerBytes];
        if (!h[..8].SequenceEqual(Magic)) return "not a Strata KV block";
        if (BinaryPrimitives.ReadUInt32LittleEndian(h[(headerBytes - 4)..]) != Crc32C.Compute(h[..(headerBytes - 4)])) return "header checksum mismatch";
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
        if (version != Version) return $"format version {version} (this build reads {Version})";
        if (BinaryPrimitives.ReadUInt32LittleEndian(h[12..]) != (uint)headerBytes) return "unexpected header size";
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
