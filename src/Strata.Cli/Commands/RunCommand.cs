using System.CommandLine;
using System.Text.Json;
using Strata.Engine;
using Strata.Grammar;
using Strata.Sampling;

namespace Strata.Cli.Commands;

/// <summary><c>strata run</c>: generate from a prompt, streaming text or printing one JSON object; no prompt is a chat.</summary>
internal sealed class RunCommand : Command
{
    private readonly Option<string?> _model = CommonOptions.Model();
    private readonly Option<string?> _prompt = new("--prompt", "-p") { Description = "the prompt (leave out -p and --tokens for an interactive chat)", HelpName = "TEXT" };
    private readonly Option<int[]?> _tokens = Opt.TokenIds("--tokens", "the prompt as token ids instead of text");
    private readonly Option<string?> _system = new("--system") { Description = "system message of the chat", HelpName = "TEXT" };
    private readonly Option<int> _nPredict = Opt.Int("--n-predict", ["-n"], "tokens to generate (-1: until end of generation or a full context)", 256, -1, int.MaxValue);
    private readonly Option<float> _temp = Opt.Float("--temp", [], "temperature (0: greedy)", 0.8f, _ => true, "a number", "T");
    private readonly Option<int> _topK = Opt.Int("--top-k", [], "keep the K most likely tokens (0: all)", 40, 0, int.MaxValue, "K");
    private readonly Option<float> _topP = Opt.Float("--top-p", [], "nucleus sampling: keep tokens up to this probability mass", 0.95f, p => p > 0 && p <= 1, "in (0, 1]", "P");
    private readonly Option<float> _minP = Opt.Float("--min-p", [], "drop tokens less likely than P times the most likely", 0.05f, p => p >= 0 && p <= 1, "in [0, 1]", "P");
    private readonly Option<float> _repeatPenalty = Opt.Float("--repeat-penalty", [], "penalty for repeated tokens (1: none)", 1.0f, r => r > 0, "positive", "R");
    private readonly Option<float> _presencePenalty = Opt.Float("--presence-penalty", [], "presence penalty (0: none)", 0f, _ => true, "a number", "P");
    private readonly Option<float> _frequencyPenalty = Opt.Float("--frequency-penalty", [], "frequency penalty (0: none)", 0f, _ => true, "a number", "F");
    private readonly Option<int> _repeatLastN = Opt.Int("--repeat-last-n", [], "tokens the penalties look back over (-1: the whole context)", 64, -1, int.MaxValue);
    private readonly Option<ulong> _seed = Opt.Seed("--seed", ["-s"], "sampling seed (-1 or none: random)");
    private readonly Option<bool> _ignoreEos = new("--ignore-eos") { Description = "never sample an end-of-generation token: generate until -n, a stop string or a full context" };
    private readonly Option<string[]> _stop = new("--stop") { Description = "stop when the text contains TEXT (repeatable)", HelpName = "TEXT" };
    private readonly Option<string?> _grammar = new("--grammar") { Description = "constrain the output to a GBNF grammar (llama.cpp's syntax, start rule root)", HelpName = "TEXT" };
    private readonly Option<string?> _grammarFile = new Option<string?>("--grammar-file") { Description = "constrain the output to the GBNF grammar in FILE", HelpName = "FILE" }.ExistingFile();
    private readonly Option<string?> _jsonSchema = new("--json-schema") { Description = "constrain the output to JSON that validates against this JSON Schema", HelpName = "JSON" };
    private readonly Option<int> _ctx = CommonOptions.CtxSize();
    private readonly Option<int> _threads = CommonOptions.Threads();
    private readonly Option<bool> _json = CommonOptions.Json("print one JSON object (prompt_tokens, tokens, text, prefill_ms, decode_tok_s, stop_reason, cached_tokens, ttft_ms, cache_hits_by_tier) instead of streaming");
    private readonly KvOptions _kv = new();

    public RunCommand() : base("run", "generate text, streaming it to stdout; without -p or --tokens, an interactive chat (Ctrl-C stops an answer, Ctrl-D exits)")
    {
        foreach (var o in new Option[] { _model, _prompt, _tokens, _system, _nPredict, _temp, _topK, _topP, _minP, _repeatPenalty, _presencePenalty,
                     _frequencyPenalty, _repeatLastN, _seed, _ignoreEos, _stop, _grammar, _grammarFile, _jsonSchema, _ctx, _threads, _json })
            Add(o);
        foreach (var o in _kv.All) Add(o);
        Validators.Add(r =>
        {
            if (r.GetResult(_prompt) is not null && r.GetResult(_tokens) is not null) r.AddError("give either -p TEXT or --tokens, not both");
            if (new Option[] { _grammar, _grammarFile, _jsonSchema }.Count(o => r.GetResult(o) is not null) > 1)
                r.AddError("give one of --grammar, --grammar-file and --json-schema");
        });
        SetAction(Execute);
    }

    private int Execute(ParseResult p)
    {
        var sampling = new SamplerOptions
        {
            Temperature = p.GetValue(_temp),
            TopK = p.GetValue(_topK),
            TopP = p.GetValue(_topP),
            MinP = p.GetValue(_minP),
            RepeatPenalty = p.GetValue(_repeatPenalty),
            PresencePenalty = p.GetValue(_presencePenalty),
            FrequencyPenalty = p.GetValue(_frequencyPenalty),
            PenaltyLastN = p.GetValue(_repeatLastN),
            Seed = p.GetResult(_seed) is null ? Opt.RandomSeed() : p.GetValue(_seed),
        };
        try { sampling.Validate(); }
        catch (StrataException e) { throw new UsageException(e.Message); }
        string? gbnf = GrammarText(p);
        var options = new GenerationOptions
        {
            MaxTokens = p.GetValue(_nPredict), Sampling = sampling, StopStrings = p.GetValue(_stop) ?? [], IgnoreEos = p.GetValue(_ignoreEos),
        };
        string? prompt = p.GetValue(_prompt);
        int[]? tokens = p.GetResult(_tokens) is null ? null : p.GetValue(_tokens); // left out: null, not an empty array
        bool json = p.GetValue(_json);

        var kv = _kv.Read(p, KvOptions.Warn);
        using var model = Model.Load(CommonOptions.ModelPath(p.GetValue(_model)), new ModelOptions { Threads = p.GetValue(_threads), Context = p.GetValue(_ctx), Kv = kv, KvType = _kv.ReadType(p) });
        if (gbnf is not null) options = options with { Grammar = TokenGrammar.Get(gbnf, model.Tokenizer, model.Config.VocabSize) };
        if (prompt is null && tokens is null) return ChatLoop.Run(model, options, p.GetValue(_system));
        int[] promptTokens = tokens ?? model.Tokenize(prompt!);
        foreach (int t in promptTokens)
            if ((uint)t >= (uint)model.Config.VocabSize)
                throw new UsageException($"token id {t} is outside the vocabulary (0 to {model.Config.VocabSize - 1})");

        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            var stdout = Console.Out;
            using var generator = new Generator(model);
            var result = generator.Generate(promptTokens, options, json ? null : text => { stdout.Write(text); stdout.Flush(); }, cts.Token);
            if (json) WriteJson(result);
            else
            {
                stdout.WriteLine();
                string cached = result.CachedTokens > 0 ? $" ({result.CachedTokens} from the KV cache)" : "";
                Console.Error.WriteLine($"[{result.PromptTokens.Length} prompt tokens{cached} in {result.PrefillMs:F1} ms, {result.Tokens.Length} tokens at {result.DecodeTokensPerSecond:F2} tok/s, stop: {result.StopReason}]");
            }
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
        return 0;
    }

    /// <summary>The GBNF of --grammar, --grammar-file or --json-schema (checked before the model loads), or null.</summary>
    private string? GrammarText(ParseResult p)
    {
        try
        {
            if (p.GetValue(_grammar) is { } text)
            {
                Gbnf.Parse(text);
                return text;
            }
            if (p.GetValue(_grammarFile) is { } file)
            {
                string fileText;
                try { fileText = File.ReadAllText(file); }
                catch (IOException e) { throw new UsageException($"cannot read --grammar-file {file}: {e.Message}"); }
                Gbnf.Parse(fileText);
                return fileText;
            }
            if (p.GetValue(_jsonSchema) is { } schema) return JsonSchemaGrammar.ToGbnf(schema);
            return null;
        }
        catch (GrammarException e)
        {
            string option = p.GetResult(_jsonSchema) is not null ? "--json-schema" : p.GetResult(_grammarFile) is not null ? "--grammar-file" : "--grammar";
            throw new UsageException($"{option}: {e.Message}");
        }
    }

    private static void WriteJson(GenerationResult result)
    {
        using (var w = new Utf8JsonWriter(Console.OpenStandardOutput()))
        {
            w.WriteStartObject();
            WriteArray(w, "prompt_tokens", result.PromptTokens);
            WriteArray(w, "tokens", result.Tokens);
            w.WriteString("text", result.Text);
            w.WriteNumber("prefill_ms", Math.Round(result.PrefillMs, 3));
            w.WriteNumber("decode_tok_s", Math.Round(result.DecodeTokensPerSecond, 3));
            w.WriteString("stop_reason", result.StopReason.ToString());
            w.WriteNumber("cached_tokens", result.CachedTokens);
            w.WriteNumber("ttft_ms", Math.Round(result.TimeToFirstTokenMs, 3));
            w.WriteStartObject("cache_hits_by_tier");
            foreach (var (tier, blocks) in result.CacheHitsByTier) w.WriteNumber(tier, blocks);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        Console.Out.WriteLine();
    }

    private static void WriteArray(Utf8JsonWriter w, string name, int[] values)
    {
        w.WriteStartArray(name);
        foreach (int v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }
}
