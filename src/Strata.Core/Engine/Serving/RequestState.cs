using System.Diagnostics;
using System.Threading.Channels;
using Strata.Kv;
using Strata.Sampling;
using Strata.Tokenizers;

namespace Strata.Engine.Serving;

/// <summary>A request inside the engine: its choices, its event channel, its clock.</summary>
internal sealed class RequestState
{
    private int _openChoices;

    public RequestState(InferenceRequest request, long order, CancellationToken cancel, Model model)
    {
        Request = request;
        Order = order;
        Cancel = cancel;
        Events = Channel.CreateUnbounded<InferenceEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        Clock = Stopwatch.StartNew();
        _openChoices = request.Choices;
        for (int c = 0; c < request.Choices; c++) ToAdmit.Enqueue(new SequenceState(this, c, model));
    }

    /// <summary>Choices waiting for a slot: all of them at first, a preempted one later.</summary>
    public Queue<SequenceState> ToAdmit { get; } = new();
    /// <summary>Whether the request is in the waiting queue now.</summary>
    public bool Queued { get; set; } = true;
    /// <summary>Set when the first choice has computed the prompt: the other choices then share its blocks.</summary>
    public bool PromptReady { get; set; }

    public InferenceRequest Request { get; }
    /// <summary>Arrival order: ties in the queue go to the earlier request; preemption takes the latest.</summary>
    public long Order { get; }
    public CancellationToken Cancel { get; }
    public Channel<InferenceEvent> Events { get; }
    public Stopwatch Clock { get; }
    public double QueueMs { get; set; } = -1;
    public double FirstTokenMs { get; set; } = -1;
    public int CachedTokens { get; set; }
    public Dictionary<string, int> CacheHits { get; } = new();
    public int CompletionTokens { get; set; }
    public bool Started { get; set; }

    /// <summary>True when this was the last open choice: the request is complete.</summary>
    public bool CloseChoice() => --_openChoices == 0;

    public void Complete()
    {
        Events.Writer.TryWrite(new UsageEvent(Request.Prompt.Length, CachedTokens, CompletionTokens, Math.Max(0, QueueMs),
            Math.Max(0, FirstTokenMs), CacheHits));
        Events.Writer.TryComplete();
    }
}

/// <summary>
/// One choice of a request being computed: its KV sequence, the tokens it still has to prefill, its sampler and the
/// text pipeline (UTF-8 assembly, stop strings).
/// </summary>
internal sealed class SequenceState : IDisposable
{
    private readonly StopStringFilter _stops;
    private readonly StreamingDecoder _decoder;
    private readonly Tokenizers.ITokenizer _tokenizer;
    private readonly IReadOnlySet<int>? _shown;
    private string _released = "";

    public SequenceState(RequestState request, int choice, Model model)
    {
        Request = request;
        Choice = choice;
        var g = request.Request.Generation;
        // Choices differ by seed, so n > 1 gives n continuations, reproducibly for a given seed.
        // Each choice follows the shared grammar with its own matcher; the matcher lives as long as this state, so a
        // preempted choice resumes where its grammar stood.
        Sampler = new Sampler(g.Sampling with { Seed = g.Sampling.Seed + (ulong)choice }, model.Config.VocabSize, g.Grammar?.NewMatcher());
        History = new List<int>(request.Request.Prompt.Length + Math.Max(0, g.MaxTokens));
        History.AddRange(request.Request.Prompt);
        _stops = new StopStringFilter(g.StopStrings, text => _released += text);
        _decoder = new StreamingDecoder(model.Tokenizer);
        _tokenizer = model.Tokenizer;
        _shown = g.ShownControlTokens is { Count: > 0 } shown ? shown : null;
        if (request.Request.Embedding is not null) Pooled = new Pooling(model.Config.Pooling, model.Config.Dim);
    }

    /// <summary>The stop string that ended the choice, if one did.</summary>
    public string? MatchedStop => _stops.Matched;

    /// <summary>An embedding request's pooled hidden state so far; null for generation.</summary>
    public Pooling? Pooled { get; }

    public RequestState Request { get; }
    public int Choice { get; }
    public Sampler Sampler { get; }
    /// <summary>Prompt and generated tokens: what the sequence's KV must end up holding, and the penalties' window.</summary>
    public List<int> History { get; }
    public KvSequence? Kv { get; set; }
    /// <summary>The prefix being read from a lower tier before the sequence can run, if any.</summary>
    public PrefixLoad? Load { get; set; }
    public int Generated { get; set; }
    /// <summary>Admission order of this sequence (preemption takes the latest).</summary>
    public long Admitted { get; set; }

    /// <summary>History tokens whose KV is not computed yet (the whole prompt at first; after a preemption, more).</summary>
    public int Pending => History.Count - (Kv?.Length ?? 0);

    /// <summary>True while logits for the next token are not yet known.</summary>
    public bool Prefilling => Pending > 1 || (Kv?.Length ?? 0) == 0;

    /// <summary>Adds a sampled token's text; returns what is released now and whether a stop string ended it.</summary>
    public (string Text, bool Stopped) Push(int token)
    {
        string piece = _shown is not null && _shown.Contains(token) ? _decoder.PushBytes(_tokenizer.TokenBytes(token, special: true)) : _decoder.Push(token);
        bool stopped = _stops.Push(piece);
        string text = _released;
        _released = "";
        return (text, stopped);
    }

    /// <summary>Text still held back, released at the end (none after a stop string).</summary>
    public string Flush(bool stopped)
    {
        if (!stopped) _stops.Finish(_decoder.Flush());
        string text = _released;
        _released = "";
        return text;
    }

    public void Dispose()
    {
        // Reads in flight write into the load's blocks: let them land, attach, then give everything back.
        Load?.Complete();
        Load = null;
        Kv?.Dispose();
        Kv = null;
    }
}
