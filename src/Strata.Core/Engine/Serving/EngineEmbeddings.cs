namespace Strata.Engine.Serving;

/// <summary>What embedding a list of inputs gave: one vector per input, in input order, and the tokens computed.</summary>
public sealed record EmbeddingResult(float[][] Vectors, int PromptTokens);

/// <summary>
/// Embeds a list of tokenized inputs through the serving engine, so they are batched with whatever else runs. At most
/// <c>inFlight</c> are queued at once: a long list neither fills the engine's queue nor starves other callers.
/// </summary>
public static class EngineEmbeddings
{
    public static async Task<EmbeddingResult> EmbedAsync(IInferenceEngine engine, IReadOnlyList<int[]> inputs, EmbeddingOptions options,
        int inFlight, string user = "", CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var vectors = new float[inputs.Count][];
        int tokens = 0;
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        using var slots = new SemaphoreSlim(Math.Max(1, inFlight));
        async Task One(int i)
        {
            await slots.WaitAsync(failed.Token).ConfigureAwait(false);
            try
            {
                var request = new InferenceRequest { Prompt = inputs[i], Embedding = options, User = user };
                await foreach (var e in engine.RunAsync(request, failed.Token).ConfigureAwait(false))
                {
                    switch (e)
                    {
                        case EmbeddingEvent v: vectors[i] = v.Vector; break;
                        case UsageEvent u: Interlocked.Add(ref tokens, u.PromptTokens); break;
                        case ErrorEvent err: throw new StrataException(err.Message);
                        case FinishEvent { Reason: StopReason.TimedOut }: throw new StrataException("the embedding request ran past the engine's request timeout");
                    }
                }
                failed.Token.ThrowIfCancellationRequested();
                if (vectors[i] is null) throw new StrataException("the engine returned no embedding");
            }
            catch
            {
                // One input failing fails the list: the others still queued are cancelled.
                failed.Cancel();
                throw;
            }
            finally
            {
                slots.Release();
            }
        }
        var all = Enumerable.Range(0, inputs.Count).Select(One).ToArray();
        try
        {
            await Task.WhenAll(all).ConfigureAwait(false);
        }
        catch when (all.FirstOrDefault(t => t.IsFaulted && t.Exception!.InnerException is not OperationCanceledException) is { } first)
        {
            // The first real failure, not the cancellations it caused.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first.Exception!.InnerException!);
        }
        return new EmbeddingResult(vectors, tokens);
    }
}
