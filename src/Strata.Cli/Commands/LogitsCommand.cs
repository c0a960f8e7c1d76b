using System.Text.Json;

namespace Strata.Cli.Commands;

/// <summary><c>strata logits</c>: the logits after every position of one batch, as JSON.</summary>
internal static class LogitsCommand
{
    public static int Execute(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "--json" }, CommandSupport.Aliases);
        a.Flag("--json"); // JSON is the only output format
        int[] tokens = a.Tokens("--tokens") ?? throw new UsageException("no tokens: use --tokens 1,2,3");
        if (tokens.Length == 0) throw new UsageException("--tokens is empty");
        if (a.Positional.Count > 0) throw new UsageException($"unexpected argument '{a.Positional[0]}'");
        using var model = CommandSupport.LoadModel(a);
        a.RejectUnknown("logits");
        if (tokens.Length > model.Context) throw new UsageException($"{tokens.Length} tokens do not fit the context of {model.Context}");
        foreach (int t in tokens)
            if ((uint)t >= (uint)model.Config.VocabSize)
                throw new UsageException($"token id {t} is outside the vocabulary (0 to {model.Config.VocabSize - 1})");

        int vocab = model.Config.VocabSize;
        int batch = model.Transformer.MaxBatch;
        var logits = new float[batch * vocab];
        using var seq = model.NewSequence();
        using var w = new Utf8JsonWriter(Console.OpenStandardOutput());
        w.WriteStartObject();
        w.WriteStartArray("logits");
        for (int start = 0; start < tokens.Length; start += batch)
        {
            int n = Math.Min(batch, tokens.Length - start);
            model.Transformer.Forward(tokens.AsSpan(start, n), seq, logits, allLogits: true);
            for (int i = 0; i < n; i++)
            {
                w.WriteStartArray();
                foreach (float x in logits.AsSpan(i * vocab, vocab)) w.WriteNumberValue(x);
                w.WriteEndArray();
            }
            w.Flush();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        w.Flush();
        Console.Out.WriteLine();
        return 0;
    }
}
