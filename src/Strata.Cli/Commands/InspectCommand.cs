using System.Text;
using Strata.Gguf;
using Strata.Models;
using Strata.Tensors;

namespace Strata.Cli.Commands;

/// <summary><c>strata inspect</c>: metadata, an architecture summary and a tensor table with totals.</summary>
internal static class InspectCommand
{
    public static int Execute(string[] argv)
    {
        var a = new Args(argv, new HashSet<string>(), CommandSupport.Aliases);
        a.RejectUnknown("inspect");
        if (a.Positional.Count != 1) throw new UsageException("usage: strata inspect MODEL");
        string path = a.Positional[0];
        using var f = GgufFile.Open(path);
        var o = new StringBuilder();
        o.AppendLine($"file:       {path}");
        o.AppendLine($"size:       {Bytes(f.FileSize)} (GGUF v{f.Version}, alignment {f.Alignment}, data at offset {f.DataOffset})");
        o.AppendLine();
        o.AppendLine($"metadata ({f.Metadata.Count} keys):");
        foreach (var key in f.Metadata.Keys) o.AppendLine($"  {key,-44} {Describe(f.Metadata.Get(key))}");
        o.AppendLine();
        try
        {
            var c = ModelConfig.FromGguf(f);
            o.AppendLine("architecture:");
            o.AppendLine($"  {c.Architecture.Name}: {c.Layers} layers, dim {c.Dim}, ffn {c.FeedForward}, heads {c.Heads} (kv {c.KvHeads}, head size {c.HeadDim}), vocab {c.VocabSize}");
            o.AppendLine($"  context {c.ContextLength}, rope {c.Architecture.Rope.ToString().ToLowerInvariant()} base {c.RopeFreqBase} dims {c.RopeDims} scale {c.RopeFreqScale}, rms eps {c.RmsEpsilon}");
            o.AppendLine($"  output: {(f.FindTensor(TensorNames.Output) is null ? "tied to token_embd" : "separate output.weight")}{(c.Architecture.AttentionBiases ? ", q/k/v biases" : "")}{(c.Architecture.QkNorm ? ", q/k norms" : "")}");
        }
        catch (StrataException e)
        {
            o.AppendLine($"architecture: not runnable by Strata: {e.Message}");
        }
        o.AppendLine();
        o.AppendLine($"tensors ({f.Tensors.Count}):");
        o.AppendLine($"  {"name",-36} {"type",-6} {"shape",-22} {"bytes",12}");
        long total = 0, elements = 0;
        var byType = new SortedDictionary<string, (int Count, long Bytes)>();
        foreach (var t in f.Tensors)
        {
            o.AppendLine($"  {t.Name,-36} {GgmlTypeInfo.Name(t.Type),-6} {t.ShapeText,-22} {t.ByteSize,12}");
            total += t.ByteSize;
            elements += t.ElementCount;
            var key = GgmlTypeInfo.Name(t.Type);
            var (n, b) = byType.GetValueOrDefault(key);
            byType[key] = (n + 1, b + t.ByteSize);
        }
        o.AppendLine();
        o.AppendLine($"total: {f.Tensors.Count} tensors, {elements:N0} parameters, {Bytes(total)} ({(elements > 0 ? total * 8.0 / elements : 0):F2} bits per weight)");
        foreach (var (type, (n, b)) in byType) o.AppendLine($"  {type,-6} {n,5} tensors {Bytes(b),12}");
        Console.Out.Write(o.ToString());
        return 0;
    }

    private static string Describe(GgufValue v)
    {
        if (v.Value is GgufArray arr)
        {
            var items = arr.Items.Cast<object>().Take(8).Select(x => x is string s ? Quote(s) : Convert.ToString(x, System.Globalization.CultureInfo.InvariantCulture));
            return $"[{arr.ElementType} x {arr.Count}] [{string.Join(", ", items)}{(arr.Count > 8 ? ", …" : "")}]";
        }
        return v.Value is string str ? Quote(str) : v.ToString();
    }

    private static string Quote(string s)
    {
        var t = s.Length > 80 ? s[..80] + "…" : s;
        return "\"" + t.Replace("\\", "\\\\").Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t") + "\"";
    }

    private static string Bytes(long b) => b switch
    {
        >= 1L << 30 => $"{b / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{b / (double)(1L << 20):F2} MiB",
        >= 1L << 10 => $"{b / 1024.0:F2} KiB",
        _ => $"{b} B",
    };
}
