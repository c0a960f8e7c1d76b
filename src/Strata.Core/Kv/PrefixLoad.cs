using Strata.Kv.Tiers;

namespace Strata.Kv;

/// <summary>
/// A prefix lookup whose lower-tier reads may still be running (<see cref="KvCacheManager.BeginAttachPrefix"/>). Its
/// blocks are allocated and pinned; <see cref="Complete"/> attaches them to the sequence, on the engine's thread.
/// With a remote tier, DRAM blocks are allocated for every block past the local prefix and the store is asked for all
/// of them in one batch (one round trip, on a reader thread); the prefix ends at the first block it did not have.
/// </summary>
public sealed class PrefixLoad
{
    private readonly KvCacheManager _cache;
    private readonly List<TierReaders.Batch> _reads = new(2);
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
    internal void AddReads(TierReaders.Batch batch) => _reads.Add(batch);

    /// <summary>True when no read is outstanding: <see cref="Complete"/> will not wait.</summary>
    public bool IsReady => _reads.TrueForAll(r => r.IsCompleted);

    /// <summary>Blocks being read from lower tiers.</summary>
    public int Reading => Loads.Count;

    /// <summary>Waits for the reads (if any) and attaches the usable prefix; a second call returns the same result.</summary>
    public PrefixReuse Complete()
    {
        if (_result is not null) return _result;
        foreach (var r in _reads) r.Wait();
        return _result = _cache.Finish(this);
    }
}
