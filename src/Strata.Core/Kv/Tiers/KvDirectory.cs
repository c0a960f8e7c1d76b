using System.Text.Json;

namespace Strata.Kv.Tiers;

/// <summary>One model's blocks in a KV directory.</summary>
public sealed record KvDirectoryModel(string Fingerprint, KvModelInfo? Info, long Blocks, long Bytes, string Path);

/// <summary>What <c>strata kv stats</c> and <c>strata kv clear</c> see in a <c>--kv-dir</c>, without loading a model.</summary>
public static class KvDirectory
{
    public static string FormatRoot(string dir) => Path.Combine(dir, SsdKvTier.RootName, SsdKvTier.FormatDir);

    public static IReadOnlyList<KvDirectoryModel> Models(string dir)
    {
        if (!Directory.Exists(dir)) throw new StrataException($"--kv-dir {dir}: no such directory");
        string root = FormatRoot(dir);
        if (!Directory.Exists(root)) return [];
        var models = new List<KvDirectoryModel>();
        foreach (var modelDir in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            long blocks = 0, bytes = 0;
            foreach (var file in new DirectoryInfo(modelDir).EnumerateFiles("*" + SsdKvTier.Extension, SearchOption.AllDirectories))
            {
                blocks++;
                bytes += file.Length;
            }
            models.Add(new KvDirectoryModel(Path.GetFileName(modelDir), ReadInfo(modelDir), blocks, bytes, modelDir));
        }
        return models;
    }

    private static KvModelInfo? ReadInfo(string modelDir)
    {
        try
        {
            return JsonSerializer.Deserialize<KvModelInfo>(File.ReadAllText(Path.Combine(modelDir, "model.json")), KvModelInfo.JsonOptions);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Deletes every model's blocks, or those of the model whose fingerprint starts with <paramref name="fingerprint"/>.</summary>
    public static IReadOnlyList<KvDirectoryModel> Clear(string dir, string? fingerprint)
    {
        var models = Models(dir);
        var chosen = fingerprint is null ? models : models.Where(m => m.Fingerprint.StartsWith(fingerprint.ToLowerInvariant(), StringComparison.Ordinal)).ToList();
        if (fingerprint is not null && chosen.Count == 0)
            throw new StrataException($"--model {fingerprint}: no model with that fingerprint in {dir} (it holds {(models.Count == 0 ? "none" : string.Join(", ", models.Select(m => m.Fingerprint[..16])))})");
        if (fingerprint is not null && chosen.Count > 1)
            throw new StrataException($"--model {fingerprint}: matches {chosen.Count} models; give more digits");
        foreach (var m in chosen) Directory.Delete(m.Path, recursive: true);
        return chosen;
    }
}
