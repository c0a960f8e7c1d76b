using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Strata.Engine.Serving;
using Strata.Server.Hosting;
using Strata.Server.Metrics;

namespace Strata.Server.Api;

/// <summary>An engine event of one of a request's prompts (a /v1/completions request may carry several).</summary>
public readonly record struct PromptEvent(int Prompt, InferenceEvent Event);

/// <summary>
/// Queues a request's prompts in the engine, maps its refusals to API errors (429 when the queue is full, 400 for a
/// request it cannot run), merges the prompts' events and records the metrics as they pass.
/// </summary>
public static class EngineRun
{
    public static IAsyncEnumerable<PromptEvent> Start(ModelHost host, ServerMetrics metrics, IReadOnlyList<InferenceRequest> requests, CancellationToken cancel)
    {
        var started = new List<IAsyncEnumerable<InferenceEvent>>(requests.Count);
        // One prompt refused cancels those already queued: the request fails as a whole.
        var all = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        try
        {
            foreach (var r in requests) started.Add(Observe(metrics, host.Engine.RunAsync(r, all.Token)));
        }
        catch (Exception e)
        {
            all.Cancel();
            all.Dispose();
            throw Refusal(e);
        }
        return Merge(started, all);
    }

    /// <summary>The engine's refusal of a request as an API error: 429 when the queue is full, 503 while shutting down,
    /// 400 for a request it cannot run; anything else is left as it is.</summary>
    public static Exception Refusal(Exception e) => e switch
    {
        EngineBusyException busy => new ApiException(429, busy.Message, "rate_limit_error", code: "rate_limit_exceeded") { RetryAfter = busy.RetryAfter },
        ObjectDisposedException => new ApiException(503, "The server is shutting down.", "unavailable_error", code: "shutting_down"),
        StrataException s => ApiException.Invalid(s.Message),
        _ => e,
    };

    private static async IAsyncEnumerable<PromptEvent> Merge(List<IAsyncEnumerable<InferenceEvent>> streams, CancellationTokenSource all)
    {
        try
        {
            if (streams.Count == 1)
            {
                await foreach (var e in streams[0]) yield return new PromptEvent(0, e);
                yield break;
            }
            var channel = Channel.CreateUnbounded<PromptEvent>(new UnboundedChannelOptions { SingleReader = true });
            var pumps = streams.Select(async (s, i) =>
            {
                await foreach (var e in s) await channel.Writer.WriteAsync(new PromptEvent(i, e));
            }).ToArray();
            _ = Task.WhenAll(pumps).ContinueWith(t => channel.Writer.TryComplete(t.Exception), TaskScheduler.Default);
            await foreach (var e in channel.Reader.ReadAllAsync()) yield return e;
        }
        finally
        {
            // Leaving early (the client went away, a write failed) stops every prompt still running.
            all.Cancel();
            all.Dispose();
        }
    }

    /// <summary>Latency histograms and token counters from one engine request's events.</summary>
    private static async IAsyncEnumerable<InferenceEvent> Observe(ServerMetrics m, IAsyncEnumerable<InferenceEvent> events, [EnumeratorCancellation] CancellationToken cancel = default)
    {
        var clock = Stopwatch.StartNew();
        var last = new Dictionary<int, double>();
        await foreach (var e in events.WithCancellation(cancel))
        {
            double now = clock.Elapsed.TotalSeconds;
            switch (e)
            {
                case TokenEvent t:
                    if (last.TryGetValue(t.Choice, out double prev)) m.InterTokenLatency.Record(now - prev);
                    last[t.Choice] = now;
                    break;
                case FinishEvent f:
                    m.RequestSuccess.Add(1, new KeyValuePair<string, object?>("finished_reason", ServerMetrics.FinishedReason(f.Reason)));
                    break;
                case UsageEvent u:
                    m.PromptTokens.Add(u.PromptTokens);
                    m.GenerationTokens.Add(u.CompletionTokens);
                    m.QueueTime.Record(u.QueueMs / 1000);
                    m.E2eLatency.Record(now);
                    if (u.CompletionTokens > 0)
                    {
                        m.TimeToFirstToken.Record(u.TimeToFirstTokenMs / 1000);
                        if (u.CompletionTokens > 1) m.TimePerOutputToken.Record(Math.Max(0, now - u.TimeToFirstTokenMs / 1000) / (u.CompletionTokens - 1));
                    }
                    break;
            }
            yield return e;
        }
    }
}
