using System.Text.Json;
using Strata.Engine;
using Strata.Sampling;

namespace Strata.Cli.Commands;

/// <summary><c>strata run</c>: generate from a prompt, streaming text or printing one JSON object.</summary>
internal static class RunCommand
{
    private static readonly HashSet<string> Flags = new() { "--json" };

    public static int Execute(string[] argv)
    {
        var a = new Args(argv, Flags, CommandSupport.Aliases);
        var stops = a.All("--stop");
        string? prompt = a.String("--prompt");
        int[]? tokens = a.Tokens("--tokens");
        bool json = a.Flag("--json");
        int n = a.Int("--n-predict", 256);
        if (n < -1) throw new UsageException($"-n must be -1 (until the end) or more, got {n}");
        var sampling = new SamplerOptions
        {
            Temperature = a.Float("--temp", 0.8f),
            TopK = a.Int("--top-k", 40),
            TopP = a.Float("--top-p", 0.95f),
            MinP = a.Float("--min-p", 0.05f),
            RepeatPenalty = a.Float("--repeat-penalty", 1.0f),
            PresencePenalty = a.Float("--presence-penalty", 0f),
            FrequencyPenalty = a.Float("--frequency-penalty", 0f),
            PenaltyLastN = a.Int("--repeat-last-n", 64),
            Seed = a.ULong("--seed") ?? (ulong)Random.Shared.NextInt64(),
        };
        if (prompt is not null && tokens is not null) throw new UsageException("give either -p TEXT or --tokens, not both");
        string? system = a.String("--system");
        if (a.Positional.Count > 0) throw new UsageException($"unexpected argument '{a.Positional[0]}'");
        try { sampling.Validate(); }
        catch (StrataException e) { throw new UsageException(e.Message); }

        using var model = CommandSupport.LoadModel(a);
        a.RejectUnknown("run");
        if (prompt is null && tokens is null)
            return ChatLoop.Run(model, new GenerationOptions { MaxTokens = n, Sampling = sampling, StopStrings = stops }, system);
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
            var options = new GenerationOptions { MaxTokens = n, Sampling = sampling, StopStrings = stops };
            var result = generator.Generate(promptTokens, options, json ? null : text => { stdout.Write(text); stdout.Flush(); }, cts.Token);
            if (json)
            {
                using var w = new Utf8JsonWriter(Console.OpenStandardOutput());
                w.WriteStartObject();
                WriteArray(w, "prompt_tokens", result.PromptTokens);
                WriteArray(w, "tokens", result.Tokens);
                w.WriteString("text", result.Text);
                w.WriteNumber("prefill_ms", Math.Round(result.PrefillMs, 3));
                w.WriteNumber("decode_tok_s", Math.Round(result.DecodeTokensPerSecond, 3));
                w.WriteString("stop_reason", result.StopReason.ToString());
                w.WriteEndObject();
                w.Flush();
                Console.Out.WriteLine();
            }
            else
            {
                stdout.WriteLine();
                Console.Error.WriteLine($"[{result.PromptTokens.Length} prompt tokens in {result.PrefillMs:F1} ms, {result.Tokens.Length} tokens at {result.DecodeTokensPerSecond:F2} tok/s, stop: {result.StopReason}]");
            }
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
        return 0;
    }

    private static void WriteArray(Utf8JsonWriter w, string name, int[] values)
    {
        w.WriteStartArray(name);
        foreach (int v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }
}
