using Strata.Quantization;
using Strata.Tensors;

namespace Strata.Cli.Commands;

/// <summary><c>strata quantize IN.gguf OUT.gguf TYPE [--threads N]</c>.</summary>
internal static class QuantizeCommand
{
    public static int Execute(string[] argv)
    {
        var a = new Args(argv, new HashSet<string>(), new Dictionary<string, string> { ["-t"] = "--threads" });
        int threads = a.Int("--threads", 0);
        a.RejectUnknown("quantize");
        if (a.Positional.Count != 3) throw new UsageException("usage: strata quantize IN.gguf OUT.gguf TYPE");
        var mix = QuantMix.Find(a.Positional[2])
            ?? throw new UsageException($"unknown type '{a.Positional[2]}' (supported: {string.Join(", ", QuantMix.All.Select(m => m.Name))})");
        if (threads < 0) throw new UsageException($"--threads must be positive, got {threads}");
        IReadOnlyList<QuantizedTensor> report;
        using (var bar = new ProgressBar($"quantizing to {mix.Name}"))
            report = ModelQuantizer.Quantize(a.Positional[0], a.Positional[1], mix, threads, bar.Report);
        long before = report.Sum(t => t.BytesBefore), after = report.Sum(t => t.BytesAfter);
        var counts = report.GroupBy(t => t.To).OrderBy(g => g.Key).Select(g => $"{g.Count()} {GgmlTypeInfo.Name(g.Key)}");
        Console.Out.WriteLine($"{a.Positional[1]}: {mix.Name}, {before / 1048576.0:F2} MiB -> {after / 1048576.0:F2} MiB of tensors ({string.Join(", ", counts)})");
        return 0;
    }
}
