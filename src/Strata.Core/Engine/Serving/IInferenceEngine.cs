namespace Strata.Engine.Serving;

/// <summary>
/// The serving engine: takes requests from any thread, runs them together (continuous batching on one engine thread),
/// and streams each one's events back. The HTTP server and the in-process <c>IChatClient</c> both sit on this.
/// </summary>
public interface IInferenceEngine : IDisposable
{
    Model Model { get; }

    /// <summary>
    /// Queues a request and streams its events: tokens and finishes per choice (an embedding request: one
    /// <see cref="EmbeddingEvent"/>, or a cancelled <see cref="FinishEvent"/>), then one <see cref="UsageEvent"/>.
    /// Throws <see cref="EngineBusyException"/> at once when the queue is full and <see cref="StrataException"/> for a
    /// request that cannot run (a prompt longer than the context). Cancelling the token stops the request and frees
    /// its KV blocks at the next step.
    /// </summary>
    IAsyncEnumerable<InferenceEvent> RunAsync(InferenceRequest request, CancellationToken cancel = default);

    /// <summary>Sequences being computed and requests waiting, for metrics and load balancing.</summary>
    EngineLoad Load { get; }

    /// <summary>Sequences preempted so far because the KV pool ran out (vLLM's num_preemptions).</summary>
    long Preemptions { get; }

    /// <summary>The most sequences one forward pass has computed together so far: above 1 once requests were batched.</summary>
    int PeakBatchSequences { get; }
}

public readonly record struct EngineLoad(int Running, int Waiting);

/// <summary>How the engine schedules.</summary>
public sealed record EngineOptions
{
    /// <summary>Sequences (choices) computed together at most.</summary>
    public int MaxRunning { get; init; } = 8;
    /// <summary>Requests waiting at most; more are refused with <see cref="EngineBusyException"/>.</summary>
    public int MaxWaiting { get; init; } = 256;
    /// <summary>Tokens one step computes at most: decode tokens first, then prefill chunks, so a long prompt never
    /// stalls running streams for more than one chunk.</summary>
    public int StepTokenBudget { get; init; } = 256;
    /// <summary>The step time the budget aims at (it shrinks below <see cref="StepTokenBudget"/> on a slow machine, so
    /// streams keep flowing while prompts are computed); zero: always the full budget.</summary>
    public double TargetStepSeconds { get; init; } = 0.25;
    /// <summary>A request still running after this long is stopped (<see cref="StopReason.Cancelled"/>); zero: never.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>Told about a failure of the engine itself (a bug): the running requests get an error, serving goes on.</summary>
    public Action<Exception>? OnError { get; init; }
}
