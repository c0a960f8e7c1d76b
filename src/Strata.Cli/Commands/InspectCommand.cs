using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Spectre.Console;
using Strata.Gguf;
using Strata.Models;
using Strata.Tensors;

namespace Strata.Cli.Commands;

/// <summary>
/// <c>strata inspect</c>: metadata, an architecture summary and a tensor table with totals — Spectre tables on a
/// terminal, the plain text scripts read when redirected, or JSON with --json.
/// </summary>
internal sealed class InspectCommand : Command
{
    private readonly Argument<string> _model = new Argument<string>("MODEL") { Description = "the GGUF file" }.ExistingFile();
    private readonly Option<bool> _json = CommonOptions.Json("print file, metadata, architecture, tensors and totals as one JSON object");

    public InspectCommand() : base("inspect", "print metadata, an architecture summary and the tensor table with totals")
    {
        Add(_model);
        Add(_json);
        SetAction(Execute);
    }

    private int Execute(ParseResult p)
    {
        string path = p.GetValue(_model)!;
        using var f = GgufFile.Open(path);
        var r = InspectReport.Of(path, f);
        if (p.GetValue(_json)) r.WriteJson(Console.OpenStandardOutput());
        else if (Terminal.Stdout is { } console) r.WriteTables(console);
        else Console.Out.Write(r.PlainText());
        return 0;
    }
}

/// <summary>What inspect shows, gathered once and written three ways.</summary>
internal sealed record InspectReport(
    string Path, GgufFile File, IReadOnlyList<(string Key, string Value)> Metadata, string[] Architecture, string? NotRunnable,
    long TotalBytes, long Parameters, SortedDictionary<string, (int Count, long Bytes)> ByType)
{
    public static InspectReport Of(string path, GgufFile f)
    {
        var metadata = f.Metadata.Keys.Select(k => (k, Describe(f.Metadata.Get(k)))).ToArray();
        string[] arch = [];
        string? notRunnable = null;
        try
        {
            var c = ModelConfig.FromGguf(f);
            arch =
            [
                $"{c.Architecture.Name}: {c.Layers} layers, dim {c.Dim}, ffn {c.FeedForward}, heads {c.Heads} (kv {c.KvHeads}, head size {c.HeadDim}), vocab {c.VocabSize}",
                $"context {c.ContextLength}, rope {c.Architecture.Rope.ToString().ToLowerInvariant()} base {c.RopeFreqBase} dims {c.RopeDims} scale {c.RopeFreqScale}, rms eps {c.RmsEpsilon}",
                $"output: {(f.FindTensor(TensorNames.Output) is null ? "tied to token_embd" : "separate output.weight")}{(c.Architecture.AttentionBiases ? ", q/k/v biases" : "")}{(c.Architecture.QkNorm ? ", q/k norms" : "")}",
            ];
        }
        catch (StrataException e)
        {
            notRunnable = e.Message;
        }
        long total = 0, elements = 0;
        var byType = new SortedDictionary<string, (int Count, long Bytes)>(StringComparer.Ordinal);
        foreach (var t in f.Tensors)
        {
            total += t.ByteSize;
            elements += t.ElementCount;
            var (n, b) = byType.GetValueOrDefault(GgmlTypeInfo.Name(t.Type));
            byType[GgmlTypeInfo.Name(t.Type)] = (n + 1, b + t.ByteSize);
        }
        return new InspectReport(path, f, metadata, arch, notRunnable, total, elements, byType);
    }

    private string SizeLine => $"{Bytes(File.FileSize)} (GGUF v{File.Version}, alignment {File.Alignment}, data at offset {File.DataOffset})";
    private double BitsPerWeight => Parameters > 0 ? TotalBytes * 8.0 / Parameters : 0;
    private string TotalLine => $"{File.Tensors.Count} tensors, {Parameters:N0} parameters, {Bytes(TotalBytes)} ({BitsPerWeight:F2} bits per weight)";

    public string PlainText()
    {
        var o = new StringBuilder();
        o.AppendLine($"file:       {Path}");
        o.AppendLine($"size:       {SizeLine}");
        o.AppendLine();
        o.AppendLine($"metadata ({Metadata.Count} keys):");
        foreach (var (key, value) in Metadata) o.AppendLine($"  {key,-44} {value}");
        o.AppendLine();
        if (NotRunnable is null)
        {
            o.AppendLine("architecture:");
            foreach (var line in Architecture) o.AppendLine($"  {line}");
        }
        else o.AppendLine($"architecture: not runnable by Strata: {NotRunnable}");
        o.AppendLine();
        o.AppendLine($"tensors ({File.Tensors.Count}):");
        o.AppendLine($"  {"name",-36} {"type",-6} {"shape",-22} {"bytes",12}");
        foreach (var t in File.Tensors) o.AppendLine($"  {t.Name,-36} {GgmlTypeInfo.Name(t.Type),-6} {t.ShapeText,-22} {t.ByteSize,12}");
        o.AppendLine();
        o.AppendLine($"total: {TotalLine}");
        foreach (var (type, (n, b)) in ByType) o.AppendLine($"  {type,-6} {n,5} tensors {Bytes(b),12}");
        return o.ToString();
    }

    public void WriteTables(IAnsiConsole console)
    {
        console.MarkupLine($"[bold]{Markup.Escape(Path)}[/]: {Markup.Escape(SizeLine)}");
        var meta = new Table().Title($"metadata ({Metadata.Count} keys)").AddColumn("key").AddColumn("value");
        foreach (var (key, value) in Metadata) meta.AddRow(new Text(key), new Text(value));
        console.Write(meta);
        if (NotRunnable is null) console.Write(new Panel(new Text(string.Join('\n', Architecture))).Header("architecture"));
        else console.MarkupLine($"[yellow]architecture: not runnable by Strata: {Markup.Escape(NotRunnable)}[/]");
        var tensors = new Table().Title($"tensors ({File.Tensors.Count})").AddColumn("name").AddColumn("type").AddColumn("shape")
            .AddColumn(new TableColumn("bytes").RightAligned());
        foreach (var t in File.Tensors)
            tensors.AddRow(new Text(t.Name), new Text(GgmlTypeInfo.Name(t.Type)), new Text(t.ShapeText), new Text(t.ByteSize.ToString(CultureInfo.InvariantCulture)));
        console.Write(tensors);
        var totals = new Table().Title($"total: {Markup.Escape(TotalLine)}").AddColumn("type")
            .AddColumn(new TableColumn("tensors").RightAligned()).AddColumn(new TableColumn("bytes").RightAligned());
        foreach (var (type, (n, b)) in ByType) totals.AddRow(type, n.ToString(CultureInfo.InvariantCulture), Bytes(b));
        console.Write(totals);
    }

    public void WriteJson(Stream stream)
    {
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("file", Path);
            w.WriteNumber("size", File.FileSize);
            w.WriteNumber("gguf_version", File.Version);
            w.WriteNumber("alignment", File.Alignment);
            w.WriteNumber("data_offset", File.DataOffset);
            w.WriteStartObject("metadata");
            foreach (var key in File.Metadata.Keys)
            {
                w.WritePropertyName(key);
                WriteValue(w, File.Metadata.Get(key));
            }
            w.WriteEndObject();
            if (NotRunnable is null)
            {
                w.WriteStartArray("architecture");
                foreach (var line in Architecture) w.WriteStringValue(line);
                w.WriteEndArray();
            }
            else w.WriteString("not_runnable", NotRunnable);
            w.WriteStartArray("tensors");
            foreach (var t in File.Tensors)
            {
                w.WriteStartObject();
                w.WriteString("name", t.Name);
                w.WriteString("type", GgmlTypeInfo.Name(t.Type));
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteNumber("bytes", t.ByteSize);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("total");
            w.WriteNumber("tensors", File.Tensors.Count);
            w.WriteNumber("parameters", Parameters);
            w.WriteNumber("bytes", TotalBytes);
            w.WriteNumber("bits_per_weight", Math.Round(BitsPerWeight, 4));
            w.WriteStartObject("by_type");
            foreach (var (type, (n, b)) in ByType)
            {
                w.WriteStartObject(type);
                w.WriteNumber("tensors", n);
                w.WriteNumber("bytes", b);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        Console.Out.WriteLine();
    }

    /// <summary>A metadata value as JSON; arrays as {type, count, items} with the first 8 items, as the text shows them.</summary>
    private static void WriteValue(Utf8JsonWriter w, GgufValue v)
    {
        switch (v.Value)
        {
            case GgufArray arr:
                w.WriteStartObject();
                w.WriteString("type", arr.ElementType.ToString());
                w.WriteNumber("count", arr.Count);
                w.WriteStartArray("items");
                foreach (var x in arr.Items.Cast<object>().Take(8)) WriteScalar(w, x);
                w.WriteEndArray();
                w.WriteEndObject();
                break;
            default:
                WriteScalar(w, v.Value);
                break;
        }
    }

    private static void WriteScalar(Utf8JsonWriter w, object x)
    {
        switch (x)
        {
            case string s: w.WriteStringValue(s); break;
            case bool b: w.WriteBooleanValue(b); break;
            case float f when float.IsFinite(f): w.WriteNumberValue(f); break;
            case double d when double.IsFinite(d): w.WriteNumberValue(d); break;
            case byte or sbyte or ushort or short or uint or int or long: w.WriteNumberValue(Convert.ToInt64(x, CultureInfo.InvariantCulture)); break;
            case ulong u: w.WriteNumberValue(u); break;
            case GgufArray a: w.WriteStringValue(a.ToString()); break;
            default: w.WriteStringValue(Convert.ToString(x, CultureInfo.InvariantCulture)); break;
        }
    }

    private static string Describe(GgufValue v)
    {
        if (v.Value is GgufArray arr)
        {
            var items = arr.Items.Cast<object>().Take(8).Select(x => x is string s ? Quote(s) : Convert.ToString(x, CultureInfo.InvariantCulture));
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
