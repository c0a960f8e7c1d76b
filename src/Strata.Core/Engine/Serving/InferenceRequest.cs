namespace Strata.Engine.Serving;

/// <summary>One request to the serving engine: a tokenized prompt and how to continue it.</summary>
public sealed record InferenceRequest
{
    public required int[] Prompt { get; init; }
    /// <summary>Token limit, sampling and stop strings (per choice).</summary>
    public GenerationOptions Generation { get; init; } = new();
    /// <summary>Independent continuations of the prompt (OpenAI's <c>n</c>); they share the prompt's KV blocks.</summary>
    public int Choices { get; init; } = 1;
    /// <summary>Alternatives per token to report with their log-probabilities; -1 reports none, 0 only the chosen token's.</summary>
    public int TopLogprobs { get; init; } = -1;
    /// <summary>Whom the request counts against for fair queuing (the API key or the request's <c>user</c>).</summary>
    public string User { get; init; } = "";
    /// <summary>Lower runs first (vLLM's convention); 0 by default.</summary>
    public int Priority { get; init; }
    /// <summary>
    /// Set to embed the prompt instead of continuing it (embedding models only): the prompt is computed without logits
    /// or the prefix cache, its final hidden states pooled as the model says, and one <see cref="EmbeddingEvent"/> comes
    /// back before the <see cref="UsageEvent"/>. <see cref="Generation"/> and <see cref="Choices"/> do not apply.
    /// </summary>
    public EmbeddingOptions? Embedding { get; init; }
}

/// <summary>How an embedding request's vector is finished.</summary>
public sealed record EmbeddingOptions
{
    /// <summary>Scale to unit length (llama.cpp's and OpenAI's default).</summary>
    public bool Normalize { get; init; } = true;
    /// <summary>Keep only the first this many components (Matryoshka-style truncation, before normalising); 0 keeps all.</summary>
    public int Dimensions { get; init; }
}

/// <summary>The log-probability of the chosen token and of the most likely alternatives at that step.</summary>
public sealed record TokenLogprobs(float Logprob, IReadOnlyList<(int Token, float Logprob)> Top);

/// <summary>What the engine reports about a request as it runs, in order.</summary>
public abstract record InferenceEvent;

/// <summary>
/// A token of one choice. <see cref="Text"/> is the text this token released: it may be empty (an incomplete UTF-8
/// character, or text held back because it could start a stop string) or carry earlier tokens' text too.
/// </summary>
public sealed record TokenEvent(int Choice, int Token, string Text, TokenLogprobs? Logprobs) : InferenceEvent;

/// <summary>A choice ended; <see cref="Text"/> is text still held back, now released.</summary>
public sealed record FinishEvent(int Choice, StopReason Reason, string Text) : InferenceEvent
{
    /// <summary>With <see cref="StopReason.StopString"/>: which of the request's stop strings ended the choice.</summary>
    public string? StopString { get; init; }
}

/// <summary>An embedding request's vector (pooled, normalised when asked).</summary>
public sealed record EmbeddingEvent(float[] Vector) : InferenceEvent;

/// <summary>The last event of a request: token counts and timings.</summary>
public sealed record UsageEvent(int PromptTokens, int CachedTokens, int CompletionTokens, double QueueMs, double TimeToFirstTokenMs,
    IReadOnlyDictionary<string, int> CacheHitsByTier) : InferenceEvent;

/// <summary>The engine failed the request (a bug or a shutdown); no more events follow.</summary>
public sealed record ErrorEvent(string Message) : InferenceEvent;

/// <summary>The engine's queue is full: the caller should retry later (HTTP 429).</summary>
public sealed class EngineBusyException(string message, TimeSpan retryAfter) : StrataException(message)
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}
