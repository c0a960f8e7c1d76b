using Strata.Kv.Tiers;

namespace Strata.Kv;

/// <summary>
/// A prefix lookup whose lower-tier reads may still be running (<see cref="KvCacheManager.BeginAttachPrefix"/>). Its
/// blocks are allocated and pinned; <see cref="Complete"/> attaches them to the sequence, on the engine's thread.
/// With a remote tier the lookup has two stages: the store is asked which of the blocks past the local prefix it has
/// (one round trip, on a reader thread); then, on the engine's thread (<see cref="Poll"/>), DRAM blocks are allocated
/// for those and their reads start.
/// </summary>
public sealed class PrefixLoad
{
    private readonly KvCacheManager _cache;
    private readonly List<TierReaders.Batch> _reads = new(2);
    private TierReaders.Batch? _probe;
    private PrefixReuse? _result;

    internal PrefixLoad(KvCacheManager cache, KvSequence seq, BlockHash[] keys, int[] tokens, int promptLength)
    {
        _cache = cache;
        Sequence = seq;
        Keys = keys;
        Source = new int[keys.Length];
        Ids = new int[keys.Length];
        Array.Fill(Ids, -1);
        Ok = new bool[keys.Length];
        Tokens = tokens;
        PromptLength = promptLength;
    }

    internal KvSequence Sequence { get; }
    internal BlockHash[] Keys { get; }
    /// <summary>Where each planned block is: −1 DRAM, else the index of its lower tier.</summary>
    internal int[] Source { get; }
    internal int[] Ids { get; }
    internal bool[] Ok { get; }
    /// <summary>Blocks planned: every one is held somewhere (pinned or allocated up to <see cref="Usable"/>).</summary>
    internal int Found { get; set; }
    internal int Usable { get; set; }
    /// <summary>Planned blocks being read from a lower tier, in increasing order.</summary>
    internal List<int> Loads { get; } = new();
    internal int[] Tokens { get; }
    internal int PromptLength { get; }
    /// <summary>The remote tier's answer: how many blocks from <see cref="Found"/> on it holds.</summary>
    internal int RemoteFound { get; set; }

    internal void AddReads(TierReaders.Batch batch) => _reads.Add(batch);

    internal void StartProbe(TierReaders.Batch probe) => _probe = probe;

    /// <summary>True when nothing is outstanding: <see cref="Complete"/> will not wait.</summary>
    public bool IsReady => _probe is null && _reads.TrueForAll(r => r.IsCompleted);

    /// <summary>Blocks being read from lower tiers.</summary>
    public int Reading => Loads.Count;

    /// <summary>
    /// Moves the lookup on without waiting (the engine's thread): once the remote store has answered, allocates the
    /// blocks it has and starts their reads. True when <see cref="Complete"/> will not wait.
    /// </summary>
    public bool Poll()
    {
        if (_probe is { IsCompleted: true }) ContinueAfterProbe();
        return IsReady;
    }

    private void ContinueAfterProbe()
    {
        var probe = _probe!;
        _probe = null;
        // The probe never throws for a failing store (that is a miss), but a bug must not go unseen.
        probe.Wait();
        _cache.ContinueRemote(this);
    }

    /// <summary>Waits for the reads (if any) and attaches the usable prefix; a second call returns the same result.</summary>
    public PrefixReuse Complete()
    {
        if (_result is not null) return _result;
        if (_probe is not null)
        {
            _probe.Wait();
            ContinueAfterProbe();
        }
        foreach (var r in _reads) r.Wait();
        return _result = _cache.Finish(this);
    }
}
