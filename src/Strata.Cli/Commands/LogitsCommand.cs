using System.CommandLine;
using System.Text.Json;
using Strata.Engine;

namespace Strata.Cli.Commands;

/// <summary><c>strata logits</c>: the logits after every position of one batch, as JSON.</summary>
internal sealed class LogitsCommand : Command
{
    private readonly Option<string?> _model = CommonOptions.Model();
    private readonly Option<int[]?> _tokens = Opt.TokenIds("--tokens", "the token ids to evaluate (required)");
    private readonly Option<int> _ctx = CommonOptions.CtxSize();
    private readonly Option<int> _threads = CommonOptions.Threads();
    private readonly Option<bool> _json = CommonOptions.Json("accepted for symmetry: JSON is the only output");

    public LogitsCommand() : base("logits", "print the logits after every position of one batch as JSON: {\"logits\":[[...],...]}")
    {
        Add(_model);
        Add(_tokens);
        Add(_ctx);
        Add(_threads);
        Add(_json);
        Validators.Add(r =>
        {
            if (r.GetResult(_tokens) is null) r.AddError("no tokens: use --tokens 1,2,3");
        });
        SetAction(Execute);
    }

    private int Execute(ParseResult p)
    {
        int[] tokens = p.GetValue(_tokens)!;
        using var model = Model.Load(CommonOptions.ModelPath(p.GetValue(_model)), new ModelOptions { Threads = p.GetValue(_threads), Context = p.GetValue(_ctx) });
        if (tokens.Length > model.Context) throw new UsageException($"{tokens.Length} tokens do not fit the context of {model.Context}");
        foreach (int t in tokens)
            if ((uint)t >= (uint)model.Config.VocabSize)
                throw new UsageException($"token id {t} is outside the vocabulary (0 to {model.Config.VocabSize - 1})");

        int vocab = model.Config.VocabSize;
        int batch = model.Transformer.MaxBatch;
        var logits = new float[batch * vocab];
        using var seq = model.NewSequence();
        using (var w = new Utf8JsonWriter(Console.OpenStandardOutput()))
        {
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
                w.Flush(); // rows stream out batch by batch
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        Console.Out.WriteLine();
        return 0;
    }
}
