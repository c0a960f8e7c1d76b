using Strata.Conversion;

namespace Strata.Cli.Commands;

/// <summary><c>strata convert HF_DIR -o OUT.gguf [--type f32|f16|bf16|q8_0]</c>.</summary>
internal static class ConvertCommand
{
    public static int Execute(string[] argv)
    {
        var a = new Args(argv, new HashSet<string>(), new Dictionary<string, string> { ["-o"] = "--output", ["-t"] = "--threads" });
        string output = a.String("--output") ?? throw new UsageException("no output given: use -o OUT.gguf");
        string type = a.String("--type") ?? "f16";
        int threads = a.Int("--threads", 0);
        a.RejectUnknown("convert");
        if (a.Positional.Count != 1) throw new UsageException(a.Positional.Count == 0 ? "no model folder given: strata convert HF_DIR -o OUT.gguf" : $"unexpected argument '{a.Positional[1]}'");
        if (!HfModelConverter.OutTypes.ContainsKey(type))
            throw new UsageException($"--type must be one of {string.Join(", ", HfModelConverter.OutTypes.Keys)}, got '{type}'");
        if (threads < 0) throw new UsageException($"--threads must be positive, got {threads}");
        ConversionResult r;
        using (var bar = new ProgressBar("converting"))
            r = HfModelConverter.Convert(a.Positional[0], output, type, bar.Report, threads);
        if (r.DroppedTokens.Count > 0)
            Console.Error.WriteLine($"strata: warning: {r.DroppedTokens.Count} added token(s) left out, their ids past the embedding's rows: {string.Join(", ", r.DroppedTokens)}");
        Console.Out.WriteLine($"{output}: {r.Architecture}, {r.Tensors} tensors, {r.Bytes / 1048576.0:F1} MiB, {type}, tokenizer {r.TokenizerModel}/{r.TokenizerPre}");
        return 0;
    }
}
