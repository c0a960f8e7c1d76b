using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Strata.Kv;

/// <summary>
/// The content address of one full KV block: h(i) = SHA-256(h(i−1) ‖ token ids of block i) truncated to 128 bits, with
/// h(−1) the model fingerprint. Deterministic across processes and machines (no per-process seed), so a block written by
/// one process is found by the next; 128 bits keep accidental collisions out of reach for any cache size.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct BlockHash(ulong Hi, ulong Lo)
{
    public const int Bytes = 16;

    /// <summary>The hash of the block holding <paramref name="tokens"/> after the block named <paramref name="parent"/>.</summary>
    public static BlockHash Chain(BlockHash parent, ReadOnlySpan<int> tokens)
    {
        // Little-endian ids after the parent, so the value does not depend on the machine's byte order.
        int length = Bytes + tokens.Length * sizeof(int);
        Span<byte> input = length <= 4096 ? stackalloc byte[length] : new byte[length];
        parent.Write(input);
        for (int i = 0; i < tokens.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(input.Slice(Bytes + i * 4), tokens[i]);
        return Digest(input);
    }

    /// <summary>SHA-256 of <paramref name="data"/>, truncated to 128 bits.</summary>
    public static BlockHash Digest(ReadOnlySpan<byte> data)
    {
        Span<byte> sha = stackalloc byte[32];
        SHA256.HashData(data, sha);
        return Read(sha);
    }

    public static BlockHash Read(ReadOnlySpan<byte> bytes) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes.Slice(8)));

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, Hi);
        BinaryPrimitives.WriteUInt64BigEndian(destination.Slice(8), Lo);
    }

    public static bool TryParse(string hex, out BlockHash hash)
    {
        hash = default;
        if (hex.Length != 32) return false;
        try
        {
            hash = Read(Convert.FromHexString(hex));
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>32 lower-case hex digits.</summary>
    public override string ToString() => $"{Hi:x16}{Lo:x16}";

    /// <summary>The first 16 hex digits: enough to tell models apart in listings.</summary>
    public string Short => $"{Hi:x16}";
}
