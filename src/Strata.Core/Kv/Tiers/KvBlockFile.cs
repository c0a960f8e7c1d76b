using Strata.IO;

namespace Strata.Kv.Tiers;

/// <summary>
/// The on-disk record of one block: a <see cref="KvBlockRecord"/> whose header fills one 4 KiB page, then the payload
/// zero-padded to a multiple of 4096, so that the payload is aligned for direct I/O.
/// </summary>
internal static class KvBlockFile
{
    public const int Version = KvBlockRecord.Version;
    public const int HeaderBytes = 4096;

    public static int FileBytes(int blockBytes) => HeaderBytes + RoundUp(blockBytes);

    public static int RoundUp(int bytes) => (bytes + DirectIo.Alignment - 1) / DirectIo.Alignment * DirectIo.Alignment;

    public static void WriteHeader(Span<byte> header, BlockHash fingerprint, BlockHash key, KvLayout layout, ReadOnlySpan<byte> payload) =>
        KvBlockRecord.WriteHeader(header, HeaderBytes, fingerprint, key, layout, payload);

    /// <summary>Null when the record is a valid block of this model and key; otherwise what is wrong with it.</summary>
    public static string? Check(ReadOnlySpan<byte> record, BlockHash fingerprint, BlockHash key, KvLayout layout) =>
        record.Length < HeaderBytes ? "truncated header" : Check(record[..HeaderBytes], record[HeaderBytes..], fingerprint, key, layout);

    /// <summary>The same check on a header and a payload read into separate buffers.</summary>
    public static string? Check(ReadOnlySpan<byte> h, ReadOnlySpan<byte> payload, BlockHash fingerprint, BlockHash key, KvLayout layout) =>
        KvBlockRecord.Check(h, payload, HeaderBytes, fingerprint, key, layout);
}
