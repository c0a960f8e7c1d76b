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
/// text and stopping on end-of-generation tokens, stop strings, the token limit or a full context. The KV cache is kept
/// between calls: a prompt that starts with the tokens of an earlier call (a chat's history) only prefills what is new.
/// </summary>
public sealed class Generator : IDisposable
{
    private readonly Model _model;
    private readonly float[] _logits;        // [Vocab] logits of the last position
    private readonly List<int> _cached = new(); // tokens whose KV is in _seq, in order
    private KvSequence? _seq;

    public Generator(Model model)
    {
        _model = model;
        _logits = new float[model.Config.VocabSize];
    }

    /// <summary>Tokens whose KV the last call left in the cache (prompt and output).</summary>
    public IReadOnlyList<int> CachedTokens => _cached;

    public GenerationResult Generate(IReadOnlyList<int> prompt, GenerationOptions options, Action<string>? onText = null, CancellationToken cancel = default)
    {
        if (prompt.Count == 0) throw new StrataException("the prompt is empty: give text or at least one token");
        var seq = _seq ??= _model.NewSequence();
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
            _cached.Add(token);
        }
        if (reason != StopReason.StopString) text.Finish(decoder.Flush());
        double decodeS = sw.Elapsed.TotalSeconds;
        return new GenerationResult(prompt.ToArray(), output.ToArray(), text.Text, reason, prefillMs,
            output.Count > 0 && decodeS > 0 ? output.Count / decodeS : 0);
    }

    /// <summary>
    /// Brings the cache to hold exactly <paramref name="prompt"/>: keeps the longest common prefix with what is cached,
    /// drops the rest, and runs the new tokens in batches (at least the last one, whose logits are needed).
    /// </summary>
    private void Prefill(IReadOnlyList<int> prompt, KvSequence seq)
    {
        int keep = 0;
        while (keep < _cached.Count && keep < prompt.Count - 1 && _cached[keep] == prompt[keep]) keep++;
        seq.Truncate(Math.Min(keep, seq.Length));
        _cached.RemoveRange(keep, _cached.Count - keep);

        var tokens = prompt as int[] ?? prompt.ToArray();
        int batch = _model.Transformer.MaxBatch;
        for (int i = keep; i < tokens.Length; i += batch)
        {
            var chunk = tokens.AsSpan(i, Math.Min(batch, tokens.Length - i));
            _model.Transformer.Forward(chunk, seq, _logits);
            _cached.AddRange(chunk);
        }
    }

    public void Dispose()
    {
        _seq?.Dispose();
        _seq = null;
        _cached.Clear();
    }
}
