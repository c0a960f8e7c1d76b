using System.Diagnostics;
using Strata.Grammar;
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
    /// <summary>Constrains the output to a grammar (structured output); each sequence gets its own matcher. When the
    /// grammar is complete and allows nothing more, generation ends as at an end-of-generation token.</summary>
    public TokenGrammar? Grammar { get; init; }
    /// <summary>
    /// Control tokens whose text is kept in the output (detokenizing drops control tokens otherwise): the markers a
    /// chat format writes its function calls with, such as Llama 3's <c>&lt;|python_tag|&gt;</c> or Mistral's <c>[TOOL_CALLS]</c>.
    /// </summary>
    public IReadOnlySet<int>? ShownControlTokens { get; init; }
    /// <summary>End-of-generation tokens are never sampled (llama.cpp's and vLLM's <c>ignore_eos</c>): generation
    /// runs to <see cref="MaxTokens"/>, a stop string, the grammar's end or a full context.</summary>
    public bool IgnoreEos { get; init; }
}

public enum StopReason { EndOfGeneration, MaxTokens, StopString, ContextFull, Cancelled, TimedOut }

public sealed record GenerationResult(
    int[] PromptTokens,
    int[] Tokens,
    string Text,
    StopReason StopReason,
    double PrefillMs,
    double DecodeTokensPerSecond)
{
    /// <summary>Prompt tokens whose KV was reused from the cache instead of computed.</summary>
    public int CachedTokens { get; init; }
    /// <summary>Blocks reused from each tier ("dram", "far", "ssd").</summary>
    public IReadOnlyDictionary<string, int> CacheHitsByTier { get; init; } = new Dictionary<string, int>();
    /// <summary>From the start of the request to the first generated token (model load excluded).</summary>
    public double TimeToFirstTokenMs { get; init; }
}

/// <summary>
/// Runs one sequence at a time: reuse the longest cached prefix of the prompt (from any tier of the model's KV cache),
/// prefill the rest in batches, then decode token by token, sampling, streaming complete UTF-8 text and stopping on
/// end-of-generation tokens, stop strings, the token limit or a full context. Every full block computed is committed
/// to the cache, so a later call — a chat's next turn, another request with the same system prompt, or a new process
/// with the same KV directory — finds it.
/// </summary>
public sealed class Generator : IDisposable
{
    private readonly Model _model;
    private readonly float[] _logits;        // [Vocab] logits of the last position

    public Generator(Model model)
    {
        _model = model;
        _logits = new float[model.Config.VocabSize];
    }

    public GenerationResult Generate(IReadOnlyList<int> prompt, GenerationOptions options, Action<string>? onText = null, CancellationToken cancel = default)
    {
        if (prompt.Count == 0) throw new StrataException("the prompt is empty: give text or at least one token");
        if (prompt.Count >= _model.Context)
            throw new StrataException($"the prompt has {prompt.Count} tokens; the context holds {_model.Context}");
        var cache = _model.KvCache;
        using var seq = _model.NewSequence();

        var sampler = new Sampler(options.Sampling, _model.Config.VocabSize, options.Grammar?.NewMatcher());
        var history = new List<int>(prompt.Count + Math.Max(0, options.MaxTokens));
        history.AddRange(prompt);
        var output = new List<int>();
        var text = new StopStringFilter(options.StopStrings, onText);
        var decoder = new StreamingDecoder(_model.Tokenizer);

        var sw = Stopwatch.StartNew();
        var tokens = prompt as int[] ?? prompt.ToArray();
        var reuse = cache.AttachPrefix(seq, tokens);
        Prefill(tokens, seq);
        double prefillMs = sw.Elapsed.TotalMilliseconds;
        double ttftMs = 0;
        sw.Restart();

        StopReason reason = StopReason.MaxTokens;
        var vocab = _model.Tokenizer.Vocabulary;
        while (options.MaxTokens < 0 || output.Count < options.MaxTokens)
        {
            if (cancel.IsCancellationRequested) { reason = StopReason.Cancelled; break; }
            if (options.IgnoreEos) vocab.BanEndOfGeneration(_logits);
            int token = sampler.Sample(_logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(history));
            if (output.Count == 0) ttftMs = prefillMs + sw.Elapsed.TotalMilliseconds;
            if (vocab.IsEndOfGeneration(token) || sampler.Grammar is { Ended: true } or { Rejected: true }) { reason = StopReason.EndOfGeneration; break; }
            output.Add(token);
            history.Add(token);
            if (text.Push(decoder.Push(token))) { reason = StopReason.StopString; break; }
            if (sampler.Grammar is { IsComplete: true }) { reason = StopReason.EndOfGeneration; break; }
            if (seq.Length >= seq.MaxPositions) { reason = StopReason.ContextFull; break; }
            if (options.MaxTokens >= 0 && output.Count >= options.MaxTokens) break;
            _model.Transformer.Forward([token], seq, _logits);
            if (seq.Length % seq.Layout.BlockTokens == 0) cache.Commit(seq);
        }
        if (reason != StopReason.StopString) text.Finish(decoder.Flush());
        double decodeS = sw.Elapsed.TotalSeconds;
        return new GenerationResult(tokens.ToArray(), output.ToArray(), text.Text, reason, prefillMs,
            output.Count > 0 && decodeS > 0 ? output.Count / decodeS : 0)
        {
            CachedTokens = reuse.Tokens,
            CacheHitsByTier = reuse.BlocksByTier,
            TimeToFirstTokenMs = ttftMs > 0 ? ttftMs : prefillMs + sw.Elapsed.TotalMilliseconds,
        };
    }

    /// <summary>Runs the prompt tokens after the reused prefix in batches, committing each block as it fills.</summary>
    private void Prefill(int[] tokens, KvSequence seq)
    {
        int batch = _model.Transformer.MaxBatch;
        for (int i = seq.Length; i < tokens.Length; i += batch)
        {
            var chunk = tokens.AsSpan(i, Math.Min(batch, tokens.Length - i));
            _model.Transformer.Forward(chunk, seq, _logits);
            _model.KvCache.Commit(seq);
        }
    }

    public void Dispose() { }
}
