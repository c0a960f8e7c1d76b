using System.Text.Json;
using Strata.Engine;

namespace Strata.Cli.Commands;

/// <summary><c>strata perplexity -m MODEL --file TEXT [--ctx N] [--json]</c>, as llama.cpp's perplexity tool computes it.</summary>
internal static class PerplexityCommand
{
    public static int Execute(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "--json" }, new Dictionary<string, string>(CommandSupport.Aliases) { ["-f"] = "--file" });
        bool json = a.Flag("--json");
        string file = a.String("--file") ?? throw new UsageException("no text given: use --file TEXT");
        int ctx = a.Int("--ctx", 0);
        if (ctx == 0) ctx = a.Int("--ctx-size", 512);
        int threads = a.Int("--threads", 0);
        string modelPath = CommandSupport.ModelPath(a);
        a.RejectUnknown("perplexity");
        if (a.Positional.Count > 0) throw new UsageException($"unexpected argument '{a.Positional[0]}'");
        if (ctx < 4 || ctx > 1 << 20) throw new UsageException($"--ctx must be between 4 and {1 << 20}, got {ctx}");
        if (threads < 0) throw new UsageException($"--threads must be positive, got {threads}");
        string text;
        try { text = File.ReadAllText(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new StrataException($"{file}: cannot read: {e.Message}"); }

        using var model = Model.Load(modelPath, new ModelOptions { Threads = threads, Context = ctx, BatchSize = Math.Min(ctx, 512) });
        var r = Perplexity.Run(model, text, ctx, json ? null : (i, ppl) =>
        {
            Console.Out.Write($"[{i}]{ppl:F4},");
            Console.Out.Flush();
        });
        if (json)
        {
            using var w = new Utf8JsonWriter(Console.OpenStandardOutput());
            w.WriteStartObject();
            w.WriteNumber("ctx", r.Context);
            w.WriteNumber("chunks", r.Chunks);
            w.WriteNumber("tokens", r.Tokens);
            w.WriteNumber("scored", r.Scored);
            w.WriteNumber("ppl", r.Perplexity);
            w.WriteNumber("ppl_stderr", r.StandardError);
            w.WriteStartArray("chunk_ppl");
            foreach (var x in r.RunningPerplexity) w.WriteNumberValue(x);
            w.WriteEndArray();
            w.WriteEndObject();
            w.Flush();
            Console.Out.WriteLine();
        }
        else
        {
            Console.Out.WriteLine();
            Console.Out.WriteLine($"Final estimate: PPL = {r.Perplexity:F4} +/- {r.StandardError:F5}");
        }
        return 0;
    }
}
