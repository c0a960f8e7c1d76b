using Strata.Kv.Tiers;

namespace Strata.Kv;

/// <summary>
/// A prefix lookup whose lower-tier reads may still be running (<see cref="KvCacheManager.BeginAttachPrefix"/>). Its
/// blocks are allocated and pinned; <see cref="Complete"/> attaches them to the sequence, on the engine's thread.
/// </summary>
public sealed class PrefixLoad
{
    private readonly KvCacheManager _cache;
    private readonly TierReaders.Batch? _reads;
    private PrefixReuse? _result;

    internal PrefixLoad(KvCacheManager cache, KvSequence seq, BlockHash[] keys, int[] source, int[] ids, bool[] ok, int found, int usable,
        List<int> loads, int[] tokens, int promptLength, TierReaders.Batch? reads)
    {
        _cache = cache;
        Sequence = seq;
        Keys = keys;
        Source = source;
        Ids = ids;
        Ok = ok;
        Found = found;
        Usable = usable;
        Loads = loads;
        Tokens = tokens;
        PromptLength = promptLength;
        _reads = reads;
    }

    internal KvSequence Sequence { get; }
    internal BlockHash[] Keys { get; }
    internal int[] Source { get; }
    internal int[] Ids { get; }
    internal bool[] Ok { get; }
    internal int Found { get; }
    internal int Usable { get; }
    internal List<int> Loads { get; }
    internal int[] Tokens { get; }
    internal int PromptLength { get; }

    /// <summary>True when no read is outstanding: <see cref="Complete"/> will not wait.</summary>
    public bool IsReady => _reads is null || _reads.IsCompleted;

    /// <summary>Blocks being read from lower tiers.</summary>
    public int Reading => _reads is null ? 0 : Loads.Count;

    /// <summary>Waits for the reads (if any) and attaches the usable prefix; a second call returns the same result.</summary>
    public PrefixReuse Complete()
    {
        if (_result is not null) return _result;
        _reads?.Wait();
        return _result = _cache.Finish(this);
    }
}
