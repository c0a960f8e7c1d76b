using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Strata.Engine.Serving;

/// <summary>
/// Continuous batching on one engine thread. Each step: drop what was cancelled, admit waiting requests while there
/// are sequence slots and free KV blocks (<see cref="Admission"/>), plan the step's work under a token budget —
/// every decoding sequence's next token, then prefill chunks (<see cref="StepPlan"/>) — run it, sample, and stream
/// the events. When KV blocks run out, the newest sequence is preempted: its full blocks stay in the cache (and go
/// down the tiers as they are evicted), and it resumes from its longest cached prefix.
/// </summary>
public sealed class InferenceEngine : IInferenceEngine
{
    private readonly EngineOptions _o;
    private readonly object _lock = new();
    private readonly FairQueue _waiting = new();
    private readonly List<SequenceState> _running = new();
    private readonly List<(SequenceState Sequence, int Count)> _batch = new();
    private readonly StepBudget _budget;
    private readonly int[] _tokens;                 // [MaxBatch] the step's tokens, entry after entry
    private readonly Models.BatchEntry[] _entries;  // [MaxRunning] the step's sequences
    private readonly float[] _logits;               // [MaxRunning × Vocab] the step's logits, one row per sampled sequence
    private readonly float[] _hidden;               // [MaxBatch × Dim] the step's final hidden states (embedding models only)
    private readonly Thread _thread;
    private readonly SemaphoreSlim _wake = new(0);
    private long _arrivals, _admissions, _preemptions;
    private int _peakBatch;
    private volatile bool _stopping;

    public InferenceEngine(Model model, EngineOptions? options = null)
    {
        Model = model;
        _o = options ?? new EngineOptions();
        if (_o.MaxRunning < 1) throw new StrataException("the engine needs at least one running sequence");
        _tokens = new int[model.Transformer.MaxBatch];
        _budget = new StepBudget(Math.Min(_o.StepTokenBudget, model.Transformer.MaxBatch), _o.TargetStepSeconds);
        _entries = new Models.BatchEntry[_o.MaxRunning];
        _logits = new float[_o.MaxRunning * model.Config.VocabSize];
        _hidden = model.Config.Pooling != Models.PoolingType.None ? new float[model.Transformer.MaxBatch * model.Config.Dim] : [];
        _thread = new Thread(Loop) { IsBackground = true, Name = "strata-engine" };
        _thread.Start();
    }

    public Model Model { get; }
    public EngineOptions Options => _o;

    public EngineLoad Load
    {
        get { lock (_lock) return new EngineLoad(_runningCount, _waiting.Count); }
    }

    private int _runningCount;

    /// <summary>Sequences preempted so far (their blocks given back when the pool ran out).</summary>
    public long Preemptions => Interlocked.Read(ref _preemptions);

    public int PeakBatchSequences => Volatile.Read(ref _peakBatch);

    public IAsyncEnumerable<InferenceEvent> RunAsync(InferenceRequest request, CancellationToken cancel = default)
    {
        Validate(request);
        RequestState state;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_stopping, this);
            if (_waiting.Count >= _o.MaxWaiting)
                throw new EngineBusyException($"the server is busy: {_waiting.Count} requests are waiting (the limit is {_o.MaxWaiting})", TimeSpan.FromSeconds(1));
            state = new RequestState(request, _arrivals++, cancel, Model);
            _waiting.Enqueue(state);
        }
        _wake.Release();
        return Read(state, cancel);
    }

    private void Validate(InferenceRequest r)
    {
        if (r.Prompt.Length == 0) throw new StrataException("the prompt is empty");
        if (r.Embedding is not null)
        {
            if (Model.Config.Pooling == Models.PoolingType.None)
                throw new StrataException($"{System.IO.Path.GetFileName(Model.Path)} is not an embedding model (its GGUF has no {Model.Config.Architecture.Name}.pooling_type)");
            if (r.Choices != 1) throw new StrataException("an embedding request has one choice");
            if (r.Embedding.Dimensions < 0 || r.Embedding.Dimensions > Model.Config.Dim)
                throw new StrataException($"dimensions = {r.Embedding.Dimensions}: this model's embeddings have 1 to {Model.Config.Dim}");
            // Nothing is generated after the prompt, so it may fill the context.
            if (r.Prompt.Length > Model.Context)
                throw new StrataException($"the input has {r.Prompt.Length} tokens; the context holds {Model.Context}");
        }
        else if (r.Prompt.Length >= Model.Context)
            throw new StrataException($"the prompt has {r.Prompt.Length} tokens; the context holds {Model.Context}");
        if (r.Choices < 1 || r.Choices > _o.MaxRunning)
            throw new StrataException($"n = {r.Choices}: between 1 and {_o.MaxRunning} choices can run at once");
        foreach (int t in r.Prompt)
            if ((uint)t >= (uint)Model.Config.VocabSize) throw new StrataException($"token id {t} is outside the vocabulary (0 to {Model.Config.VocabSize - 1})");
        r.Generation.Sampling.Validate();
    }

    private static async IAsyncEnumerable<InferenceEvent> Read(RequestState state, [EnumeratorCancellation] CancellationToken cancel)
    {
        // The engine sees the cancellation at its next step and completes the channel after freeing the sequence.
        await foreach (var e in state.Events.Reader.ReadAllAsync(CancellationToken.None))
            yield return e;
    }

    private void Loop()
    {
        while (!_stopping)
        {
            bool idle;
            lock (_lock) idle = _running.Count == 0 && _waiting.Count == 0;
            if (idle)
            {
                _wake.Wait(100);
                continue;
            }
            try
            {
                Step();
            }
            catch (Exception e)
            {
                // A bug must not leave callers waiting forever: fail what is running, keep serving.
                FailAll(e);
            }
        }
        FailAll(new StrataException("the engine stopped"));
    }

    private void Step()
    {
        DropCancelled();
        Admit();
        int decoding = _running.Count(r => r.Kv is not null && r.Load is null && r.Pending == 1);
        var plan = StepPlan.Make(_running, _budget.Next(decoding));

        // Attach new sequences to their cached prefix and reserve blocks; either may take a sequence out of this step.
        _batch.Clear();
        foreach (var (s, planned) in plan)
        {
            if (!_running.Contains(s) || !Attach(s)) continue;
            int count = Math.Min(planned, s.Pending);
            if (count > 0 && EnsureBlocks(s, s.Kv!.Length + count)) _batch.Add((s, count));
        }
        _batch.RemoveAll(b => !_running.Contains(b.Sequence)); // preempted by a later reservation
        if (_batch.Count == 0)
        {
            // Nothing to compute but prefixes being read: wait for the device rather than spin.
            if (_running.Any(r => r.Load is not null)) Thread.Sleep(1);
            return;
        }
        if (_batch.Count > _peakBatch) Volatile.Write(ref _peakBatch, _batch.Count);

        // One forward pass for everything: every matrix is read once for all sequences of the step.
        int n = 0;
        bool embedding = false;
        for (int e = 0; e < _batch.Count; e++)
        {
            var (s, count) = _batch[e];
            System.Runtime.InteropServices.CollectionsMarshal.AsSpan(s.History).Slice(s.Kv!.Length, count).CopyTo(_tokens.AsSpan(n));
            n += count;
            embedding |= s.Pooled is not null;
            bool last = count == s.Pending && s.Pooled is null;
            _entries[e] = new Models.BatchEntry(s.Kv, count, last ? Models.LogitRows.Last : Models.LogitRows.None);
        }
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        Model.Transformer.Forward(_tokens.AsSpan(0, n), _entries.AsSpan(0, _batch.Count), _logits, embedding ? _hidden : default);
        _budget.Observe(n, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);

        int row = 0;
        for (int e = 0, first = 0; e < _batch.Count; first += _batch[e].Count, e++)
        {
            var s = _batch[e].Sequence;
            bool sample = _entries[e].Logits == Models.LogitRows.Last;
            _entries[e] = default;
            if (s.Pooled is { } pooled)
            {
                // An embedding is one-off: its blocks are not named in the cache, its states are pooled as they come.
                int d = Model.Config.Dim;
                pooled.Add(_hidden.AsSpan(first * d, _batch[e].Count * d), _batch[e].Count);
                if (s.Pending == 0) FinishEmbedding(s, pooled);
                continue;
            }
            Model.KvCache.Commit(s.Kv!);
            if (!sample) continue;
            Sample(s, _logits.AsSpan(row++ * Model.Config.VocabSize, Model.Config.VocabSize));
        }
    }

    /// <summary>
    /// Gives a sequence its KV cache the first time it runs; false while it must wait: a later choice waits for the
    /// first to compute the prompt (then shares its blocks), and a sequence whose prefix is being read from a lower
    /// tier waits for the reads while the others compute.
    /// </summary>
    private bool Attach(SequenceState s)
    {
        if (s.Kv is null)
        {
            if (s.Choice > 0 && !s.Request.PromptReady) return false;
            s.Kv = Model.NewSequence();
            if (s.Pooled is { } pooled)
            {
                // Pooling needs every position's hidden state, which cached KV blocks do not give.
                pooled.Reset();
                return true;
            }
            s.Load = Model.KvCache.BeginAttachPrefix(s.Kv, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(s.History));
        }
        if (s.Load is not { } load) return true;
        if (!load.IsReady) return false;
        var reuse = load.Complete();
        s.Load = null;
        if (s.Choice == 0 && s.Generated == 0)
        {
            s.Request.CachedTokens = reuse.Tokens;
            foreach (var (tier, count) in reuse.BlocksByTier) s.Request.CacheHits[tier] = count;
        }
        return true;
    }

    private void DropCancelled()
    {
        List<RequestState> gone;
        lock (_lock) gone = _waiting.RemoveCancelled();
        foreach (var r in gone)
        {
            r.Queued = false;
            while (r.ToAdmit.Count > 0)
            {
                var s = r.ToAdmit.Dequeue();
                r.Events.Writer.TryWrite(new FinishEvent(s.Choice, StopReason.Cancelled, ""));
                if (r.CloseChoice()) r.Complete();
            }
        }
        foreach (var s in _running.ToArray())
        {
            var r = s.Request;
            bool timedOut = _o.RequestTimeout > TimeSpan.Zero && r.Clock.Elapsed > _o.RequestTimeout;
            if (r.Cancel.IsCancellationRequested) Finish(s, StopReason.Cancelled);
            else if (timedOut) Finish(s, StopReason.TimedOut);
        }
    }

    /// <summary>Takes waiting requests while every choice gets a slot and the prompt's blocks fit in the free pool.</summary>
    private void Admit()
    {
        while (true)
        {
            RequestState? next;
            lock (_lock) next = _waiting.Peek();
            if (next is null) return;
            if (_running.Count + next.ToAdmit.Count > _o.MaxRunning) return;
            if (_running.Count > 0 && !Admission.HasRoom(Model.KvCache, next.ToAdmit.Peek().History.Count, next.ToAdmit.Count)) return;
            lock (_lock)
            {
                _waiting.Dequeue();
                next.Queued = false;
            }
            if (next.QueueMs < 0) next.QueueMs = next.Clock.Elapsed.TotalMilliseconds;
            while (next.ToAdmit.Count > 0)
            {
                var s = next.ToAdmit.Dequeue();
                s.Admitted = _admissions++;
                _running.Add(s);
            }
            lock (_lock) _runningCount = _running.Count;
        }
    }

    /// <summary>Makes room in the pool for the sequence to reach <paramref name="positions"/>, preempting the newest
    /// other sequences when blocks run out; false when the sequence itself had to give way.</summary>
    private bool EnsureBlocks(SequenceState s, int positions)
    {
        int needed = Model.KvCache.Layout.BlocksFor(positions) - s.Kv!.BlockTable.Length;
        while (needed > Model.KvPool.FreeBlocks)
        {
            var victim = _running.Where(r => r != s && r.Kv is not null && r.Load is null).MaxBy(r => r.Admitted);
            if (victim is null || victim.Admitted < s.Admitted) victim = s;
            Preempt(victim);
            if (victim == s) return false;
        }
        return true;
    }

    /// <summary>
    /// Gives a sequence's blocks back (its full blocks stay named in the cache, moving down the tiers as they are
    /// evicted) and queues it to resume first: it will find its prefix again instead of recomputing it.
    /// </summary>
    private void Preempt(SequenceState s)
    {
        Interlocked.Increment(ref _preemptions);
        s.Dispose();
        _running.Remove(s);
        var r = s.Request;
        r.ToAdmit.Enqueue(s);
        lock (_lock)
        {
            _runningCount = _running.Count;
            if (!r.Queued)
            {
                r.Queued = true;
                _waiting.Enqueue(r, front: true);
            }
        }
    }

    private void Sample(SequenceState s, Span<float> logits)
    {
        var r = s.Request;
        var g = r.Request.Generation;
        if (g.IgnoreEos) Model.Tokenizer.Vocabulary.BanEndOfGeneration(logits);
        int token = s.Sampler.Sample(logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(s.History));
        if (r.FirstTokenMs < 0) r.FirstTokenMs = r.Clock.Elapsed.TotalMilliseconds;
        if (s.Choice == 0) r.PromptReady = true;
        if (Model.Tokenizer.Vocabulary.IsEndOfGeneration(token) || s.Sampler.Grammar is { Ended: true } or { Rejected: true })
        {
            Finish(s, StopReason.EndOfGeneration);
            return;
        }
        var lp = r.Request.TopLogprobs >= 0 ? Logprobs.Of(logits, token, r.Request.TopLogprobs) : null;
        s.History.Add(token);
        s.Generated++;
        r.CompletionTokens++;
        var (text, stopped) = s.Push(token);
        r.Events.Writer.TryWrite(new TokenEvent(s.Choice, token, text, lp));
        if (stopped) Finish(s, StopReason.StopString, stopped: true);
        else if (s.Sampler.Grammar is { IsComplete: true }) Finish(s, StopReason.EndOfGeneration);
        else if (g.MaxTokens >= 0 && s.Generated >= g.MaxTokens) Finish(s, StopReason.MaxTokens);
        else if (s.History.Count >= Model.Context) Finish(s, StopReason.ContextFull);
    }

    private void FinishEmbedding(SequenceState s, Pooling pooled)
    {
        var r = s.Request;
        if (r.FirstTokenMs < 0) r.FirstTokenMs = r.Clock.Elapsed.TotalMilliseconds;
        var o = r.Request.Embedding!;
        r.Events.Writer.TryWrite(new EmbeddingEvent(pooled.Finish(o.Normalize, o.Dimensions)));
        s.Dispose();
        _running.Remove(s);
        lock (_lock) _runningCount = _running.Count;
        if (r.CloseChoice()) r.Complete();
    }

    private void Finish(SequenceState s, StopReason reason, bool stopped = false)
    {
        var r = s.Request;
        r.Events.Writer.TryWrite(new FinishEvent(s.Choice, reason, s.Flush(stopped)) { StopString = stopped ? s.MatchedStop : null });
        s.Dispose();
        _running.Remove(s);
        lock (_lock) _runningCount = _running.Count;
        if (r.CloseChoice()) r.Complete();
    }

    private void FailAll(Exception e)
    {
        foreach (var s in _running.ToArray()) Finish(s, StopReason.Cancelled);
        List<RequestState> waiting = new();
        lock (_lock)
            while (_waiting.Count > 0) waiting.Add(_waiting.Dequeue());
        foreach (var r in waiting)
        {
            r.Events.Writer.TryWrite(new ErrorEvent(e.Message));
            r.Events.Writer.TryComplete();
        }
        if (e is not StrataException) _o.OnError?.Invoke(e);
    }

    public void Dispose()
    {
        _stopping = true;
        _wake.Release();
        _thread.Join(TimeSpan.FromSeconds(30));
    }
}
