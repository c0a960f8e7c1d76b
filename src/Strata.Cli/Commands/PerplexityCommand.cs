using System.CommandLine;
using System.Text;
using System.Text.Json;
using Strata.Engine;

namespace Strata.Cli.Commands;

/// <summary><c>strata perplexity -m MODEL --file TEXT [--ctx N] [--kv-type f16|q8_0] [--json]</c>, as llama.cpp's perplexity tool computes it.</summary>
internal sealed class PerplexityCommand : Command
{
    private readonly Option<string?> _model = CommonOptions.Model();
    private readonly Option<string?> _file = new Option<string?>("--file", "-f") { Description = "the text to score (required)", HelpName = "TEXT" }.ExistingFile();
    private readonly Option<int> _ctx = CommonOptions.CtxSize(512, min: 4, description: "tokens per window (the text needs at least twice as many)");
    private readonly Option<int> _threads = CommonOptions.Threads();
    private readonly Option<string> _kvType = KvOptions.TypeOption();
    private readonly Option<bool> _json = CommonOptions.Json("print {ctx, chunks, tokens, scored, ppl, ppl_stderr, chunk_ppl} as JSON");

    public PerplexityCommand() : base("perplexity", "perplexity of a text in windows of --ctx tokens, as llama.cpp's perplexity tool computes it")
    {
        _ctx.Aliases.Add("--ctx"); // llama.cpp's perplexity spelling
        Add(_model);
        Add(_file);
        Add(_ctx);
        Add(_threads);
        Add(_kvType);
        Add(_json);
        Validators.Add(r =>
        {
            if (r.GetResult(_file) is null) r.AddError("no text given: use --file TEXT");
        });
        SetAction(Execute);
    }

    private int Execute(ParseResult p)
    {
        bool json = p.GetValue(_json);
        int ctx = p.GetValue(_ctx);
        string file = p.GetValue(_file)!;
        string text;
        try { text = File.ReadAllText(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new StrataException($"{file}: cannot read: {e.Message}"); }

        using var model = Model.Load(CommonOptions.ModelPath(p.GetValue(_model)), new ModelOptions { Threads = p.GetValue(_threads), Context = ctx, BatchSize = Math.Min(ctx, 512), KvType = KvOptions.ReadType(p, _kvType) });
        // On a terminal the running estimates wait for the progress display to finish, so the two do not interleave.
        bool holdChunks = !json && Terminal.ShowsProgress && !Console.IsOutputRedirected;
        var held = new StringBuilder();
        int chunks = Terminal.ShowsProgress ? model.Tokenize(text, addSpecial: true, parseSpecial: false).Length / ctx : 0; // the bar's total
        var r = Terminal.WithProgress("perplexity", "chunks", progress => Perplexity.Run(model, text, ctx, (i, ppl) =>
        {
            progress?.Invoke(i, chunks);
            if (json) return;
            string chunk = $"[{i}]{ppl:F4},";
            if (holdChunks) held.Append(chunk);
            else { Console.Out.Write(chunk); Console.Out.Flush(); }
        }), scale: 1);
        if (json) WriteJson(r);
        else
        {
            Console.Out.WriteLine(held.ToString());
            Console.Out.WriteLine($"Final estimate: PPL = {r.Perplexity:F4} +/- {r.StandardError:F5}");
        }
        return 0;
    }

    private static void WriteJson(PerplexityResult r)
    {
        using (var w = new Utf8JsonWriter(Console.OpenStandardOutput()))
        {
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
        }
        Console.Out.WriteLine();
    }
}
