using System.Text.Json;

namespace Strata.Conversion;

/// <summary>
/// A Hugging Face model folder opened for conversion: <c>config.json</c> and the safetensors weights, one file or
/// shards listed by <c>model.safetensors.index.json</c>, all memory-mapped. Tensors are found by their HF names.
/// </summary>
public sealed class HfCheckpoint : IDisposable
{
    private readonly List<SafetensorsFile> _files = new();
    private readonly Dictionary<string, (SafetensorsFile File, SafetensorsTensor Tensor)> _tensors = new(StringComparer.Ordinal);

    public string Directory { get; }
    public JsonElement Config { get; }
    public IReadOnlyList<SafetensorsFile> Files => _files;
    /// <summary>HF tensor names in file order (shard by shard).</summary>
    public IReadOnlyList<string> TensorNames { get; }

    private HfCheckpoint(string dir, JsonElement config, List<string> names)
    {
        Directory = dir;
        Config = config;
        TensorNames = names;
    }

    public static HfCheckpoint Open(string dir)
    {
        if (!System.IO.Directory.Exists(dir)) throw new StrataException($"{dir}: no such directory (expected a Hugging Face model folder)");
        string configPath = Path.Combine(dir, "config.json");
        if (!File.Exists(configPath)) throw new StrataException($"{dir}: no config.json (expected a Hugging Face model folder)");
        JsonElement config;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(configPath));
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new StrataException($"{configPath}: not a JSON object");
            config = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new StrataException($"{configPath}: invalid JSON: {e.Message}");
        }

        // Which files: the index's weight map, else model.safetensors, else every *.safetensors.
        var shardOf = new Dictionary<string, string>(StringComparer.Ordinal);
        List<string> shardFiles;
        string indexPath = Path.Combine(dir, "model.safetensors.index.json");
        if (File.Exists(indexPath))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
                if (!doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                    throw new StrataException($"{indexPath}: no weight_map object");
                foreach (var p in wm.EnumerateObject())
                {
                    string? file = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : null;
                    if (string.IsNullOrEmpty(file) || file.Contains('/') || file.Contains('\\') || file.StartsWith('.'))
                        throw new StrataException($"{indexPath}: weight_map entry '{p.Name}' names an invalid file");
                    shardOf[p.Name] = file;
                }
            }
            catch (JsonException e)
            {
                throw new StrataException($"{indexPath}: invalid JSON: {e.Message}");
            }
            shardFiles = shardOf.Values.Distinct().OrderBy(f => f, StringComparer.Ordinal).ToList();
        }
        else if (File.Exists(Path.Combine(dir, "model.safetensors"))) shardFiles = ["model.safetensors"];
        else
        {
            shardFiles = System.IO.Directory.GetFiles(dir, "*.safetensors").Select(Path.GetFileName).OrderBy(f => f, StringComparer.Ordinal).ToList()!;
            if (shardFiles.Count == 0) throw new StrataException($"{dir}: no *.safetensors files (only safetensors weights can be converted)");
        }

        var names = new List<string>();
        var cp = new HfCheckpoint(dir, config, names);
        try
        {
            foreach (var f in shardFiles)
            {
                string path = Path.Combine(dir, f);
                if (!File.Exists(path)) throw new StrataException($"{path}: shard listed in model.safetensors.index.json is missing");
                var st = SafetensorsFile.Open(path);
                cp._files.Add(st);
                foreach (var t in st.Tensors)
                {
                    if (cp._tensors.TryGetValue(t.Name, out var prior))
                        throw new StrataException($"tensor '{t.Name}' is in both {Path.GetFileName(prior.File.Path)} and {f}");
                    if (shardOf.Count > 0 && shardOf.TryGetValue(t.Name, out var expected) && expected != f)
                        throw new StrataException($"tensor '{t.Name}' is in {f}, but the index puts it in {expected}");
                    cp._tensors[t.Name] = (st, t);
                    names.Add(t.Name);
                }
            }
            foreach (var (name, file) in shardOf)
                if (!cp._tensors.ContainsKey(name))
                    throw new StrataException($"tensor '{name}' is listed in model.safetensors.index.json ({file}) but not found in that file");
            return cp;
        }
        catch
        {
            cp.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public (SafetensorsFile File, SafetensorsTensor Tensor)? Find(string name) =>
        _tensors.TryGetValue(name, out var e) ? e : null;

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        _files.Clear();
    }
}
