using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Strata.Gguf;
using Strata.Models;

namespace Strata.Kv;

/// <summary>
/// h(−1) of the block chain: a digest of everything that decides what a KV block holds — the weights, the
/// architecture and the hyper-parameters that shape K and V, the KV type and the block size — so KV of other weights,
/// another dtype or block size can never be found. Files Strata writes carry a SHA-256 of their tensor data
/// (<see cref="GgufWriter.DataChecksumKey"/>); for other files the digest covers the header, every tensor's name, type,
/// shape and offset, and pages sampled from the start, end and middle of every tensor, which costs a few milliseconds
/// where hashing every byte would cost seconds.
/// </summary>
public static class ModelFingerprint
{
    private const int SamplePage = 4096;
    private const int MiddleSamplesPerTensor = 4;

    public static BlockHash Compute(GgufFile file, ModelConfig config, KvLayout layout)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Append(h, "strata-kv-fingerprint/1");
        Append(h, $"arch={config.Architecture.Name};dim={config.Dim};layers={config.Layers};heads={config.Heads};kv_heads={config.KvHeads};" +
                  $"head_dim={config.HeadDim};rope_base={config.RopeFreqBase:R};rope_scale={config.RopeFreqScale:R};rope_dims={config.RopeDims};" +
                  $"eps={config.RmsEpsilon:R};kv={KvTypeInfo.Name(layout.Type)};block={layout.BlockTokens}");
        AppendWeights(h, file);
        Span<byte> digest = stackalloc byte[32];
        h.GetHashAndReset(digest);
        return BlockHash.Read(digest);
    }

    private static void AppendWeights(IncrementalHash h, GgufFile file)
    {
        if (file.Metadata.TryGetString(GgufWriter.DataChecksumKey) is { Length: 64 } sha && !sha.All(c => c == '0'))
        {
            Append(h, "data_sha256=" + sha);
            return;
        }
        Append(h, $"size={file.FileSize};tensors={file.Tensors.Count}");
        Span<byte> number = stackalloc byte[8];
        foreach (var t in file.Tensors)
        {
            Append(h, $"{t.Name}:{t.Type}:{string.Join('x', t.Shape)}@{t.Offset}");
            long size = t.ByteSize;
            Sample(h, file, t, 0);
            Sample(h, file, t, size - SamplePage);
            for (int s = 1; s <= MiddleSamplesPerTensor; s++)
                Sample(h, file, t, size / (MiddleSamplesPerTensor + 1) * s);
            BinaryPrimitives.WriteInt64LittleEndian(number, size);
            h.AppendData(number);
        }
    }

    private static void Sample(IncrementalHash h, GgufFile file, GgufTensorInfo t, long offset)
    {
        offset = Math.Clamp(offset, 0, Math.Max(0, t.ByteSize - 1));
        int n = (int)Math.Min(SamplePage, t.ByteSize - offset);
        if (n > 0) h.AppendData(file.TensorBytes(t, offset, n));
    }

    private static void Append(IncrementalHash h, string s)
    {
        h.AppendData(Encoding.UTF8.GetBytes(s));
        h.AppendData([0]);
    }
}
