using System.Buffers.Binary;
using System.Runtime.Intrinsics.X86;

namespace Strata.IO;

/// <summary>
/// CRC-32C (Castagnoli), the checksum of iSCSI, ext4 metadata and most storage formats: the SSE4.2 instruction where
/// the CPU has it (several GB/s), a table otherwise (the scalar twin the tests compare against).
/// </summary>
public static class Crc32C
{
    private const uint Polynomial = 0x82F63B78; // reflected 0x1EDC6F41
    private static readonly uint[] Table = BuildTable();

    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(~0u, data);

    public static uint Update(uint crc, ReadOnlySpan<byte> data) =>
        Sse42.X64.IsSupported ? UpdateSse42(crc, data) : UpdateScalar(crc, data);

    internal static uint ComputeScalar(ReadOnlySpan<byte> data) => ~UpdateScalar(~0u, data);

    private static uint UpdateSse42(uint crc, ReadOnlySpan<byte> data)
    {
        ulong c = crc;
        int i = 0;
        for (; i + 8 <= data.Length; i += 8) c = Sse42.X64.Crc32(c, BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(i)));
        uint r = (uint)c;
        for (; i < data.Length; i++) r = Sse42.Crc32(r, data[i]);
        return r;
    }

    private static uint UpdateScalar(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    private static uint[] BuildTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ Polynomial : c >> 1;
            t[i] = c;
        }
        return t;
    }
}
