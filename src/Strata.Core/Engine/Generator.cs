using System.Diagnostics;
using Strata.Kv;
using Strata.Sampling;
using Strata.Tokenizers;

namespace Strata.Engine;

public sealed record GenerationOptions
{
    /// <summary>Tokens to generate at most; -1 means until end of generation or a full context.</summary>
    public int MaxTokens { get; init; } = 256;
    public SamplerOptions Sampling { get; init; } = new();
    /// <summary>Generation stops when the text contains one of these; the stop string itself is not returned.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];
}

public enum StopReason { EndOfGeneration, MaxTokens, StopString, ContextFull, Cancelled }

public sealed record GenerationResult(
    int[] PromptTokens,
    int[] Tokens,
    string Text,
    StopReason StopReason,
    double PrefillMs,
    double DecodeTokensPerSecond);

/// <summary>
/// Runs one sequence: prefill the prompt in batches, then decode token by token, sampling, streaming complete UTF-8
/// text and stopping on end-of-generation tokens, stop strings, the token limit or a full context.
/// </summary>
public sealed class Generator
{
    private readonly Model _model;
    private readonly float[] _logits; // [Vocab] logits of the last position

    public Generator(Model model)
    {
        _model = model;
        _logits = new float[model.Config.VocabSize];
    }

    public GenerationResult Generate(IReadOnlyList<int> prompt, GenerationOptions options, Action<string>? onText = null, CancellationToken cancel = default)
    {
        if (prompt.Count == 0) throw new StrataException("the prompt is empty: give text or at least one token");
        using var seq = _model.NewSequence();
        if (prompt.Count >= seq.MaxPositions)
            throw new StrataException($"the prompt has {prompt.Count} tokens; the context holds {seq.MaxPositions}");

        var sampler = new Sampler(options.Sampling, _model.Config.VocabSize);
        var history = new List<int>(prompt.Count + Math.Max(0, options.MaxTokens));
        history.AddRange(prompt);
        var output = new List<int>();
        var text = new StopStringFilter(options.StopStrings, onText);
        var decoder = new StreamingDecoder(_model.Tokenizer);

        var sw = Stopwatch.StartNew();
        Prefill(prompt, seq);
        double prefillMs = sw.Elapsed.TotalMilliseconds;
        sw.Restart();

        StopReason reason = StopReason.MaxTokens;
        var vocab = _model.Tokenizer.Vocabulary;
        while (options.MaxTokens < 0 || output.Count < options.MaxTokens)
        {
            if (cancel.IsCancellationRequested) { reason = StopReason.Cancelled; break; }
            int token = sampler.Sample(_logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(history));
            if (vocab.IsEndOfGeneration(token)) { reason = StopReason.EndOfGeneration; break; }
            output.Add(token);
            history.Add(token);
            if (text.Push(decoder.Push(token))) { reason = StopReason.StopString; break; }
            if (seq.Length >= seq.MaxPositions) { reason = StopReason.ContextFull; break; }
            if (options.MaxTokens >= 0 && output.Count >= options.MaxTokens) break;
            _model.Transformer.Forward([token], seq, _logits);
        }
        if (reason != StopReason.StopString) text.Finish(decoder.Flush());
        double decodeS = sw.Elapsed.TotalSeconds;
        return new GenerationResult(prompt.ToArray(), output.ToArray(), text.Text, reason, prefillMs,
            output.Count > 0 && decodeS > 0 ? output.Count / decodeS : 0);
    }

    /// <summary>Feeds the prompt in batches of at most the model's batch size; leaves the last position's logits.</summary>
    private void Prefill(IReadOnlyList<int> prompt, KvSequence seq)
    {
        var tokens = prompt as int[] ?? prompt.ToArray();
        int batch = _model.Transformer.MaxBatch;
        for (int i = 0; i < tokens.Length; i += batch)
            _model.Transformer.Forward(tokens.AsSpan(i, Math.Min(batch, tokens.Length - i)), seq, _logits);
    }
}
