using Strata.Kv.Tiers;

namespace Strata.Kv;

/// <summary>What a prefix lookup reused: tokens whose KV was found, and blocks per tier ("dram", "far", "ssd").</summary>
public sealed record PrefixReuse(int Tokens, IReadOnlyDictionary<string, int> BlocksByTier)
{
    public static readonly PrefixReuse None = new(0, new Dictionary<string, int>());
}

/// <summary>
/// The narrow facade between the engine and the tiered KV cache: new sequence, attach the cached prefix of a prompt,
/// commit full blocks, free (dispose the sequence). The forward pass and the scheduler see only <see cref="KvSequence"/>
/// and the DRAM pool; where a block came from or goes to is decided here. Not thread-safe: one engine thread calls
/// it; lower tiers do their own locking and their device writes on background threads.
/// </summary>
public sealed class KvCacheManager : IDisposable
{
    private readonly KvLayout _layout;
    private readonly KvTierLevel[] _levels;       // below DRAM, fastest first
    private readonly KvTierLevel[] _through;      // the persistent levels write-through writes to (ssd, remote)
    private readonly KvTierLevel? _remote;        // the remote store, asked in batches off the engine's thread
    private readonly KvWriteMode _writeMode;
    private readonly int[] _noTokens;
    private long _queries, _queriedBlocks, _hitBlocks;

    private readonly IDisposable? _ownedStore;

    /// <param name="ownedStore">The DRAM store, when the manager should free it on dispose.</param>
    public KvCacheManager(KvLayout layout, BlockHash fingerprint, KvBlockPool pool, IReadOnlyList<KvTierLevel> lowerTiers, KvWriteMode writeMode,
        IDisposable? ownedStore = null)
    {
        _ownedStore = ownedStore;
        _layout = layout;
        Fingerprint = fingerprint;
        Pool = pool;
        _levels = lowerTiers.ToArray();
        _writeMode = writeMode;
        _through = _levels.Where(l => l.Tier.Persistent).ToArray();
        _remote = _levels.FirstOrDefault(l => l.StoreManaged);
        _noTokens = new int[layout.BlockTokens];
        for (int i = 0; i + 1 < _levels.Length; i++)
        {
            _levels[i].Below = _levels[i + 1];
            // Write-through already put every block on the device; write-back moves blocks down as they leave.
            _levels[i].CascadeEvictions = writeMode == KvWriteMode.Back;
        }
        pool.Evicting = Demote;
    }

    public KvLayout Layout => _layout;
    public BlockHash Fingerprint { get; }
    public KvBlockPool Pool { get; }
    public IReadOnlyList<KvTierLevel> LowerTiers => _levels;
    public KvWriteMode WriteMode => _writeMode;

    /// <summary>False: lookups find nothing and nothing is named (every prompt computed in full).</summary>
    public bool PrefixCaching { get; init; } = true;

    public long PrefixQueries => _queries;
    public long PrefixQueriedBlocks => _queriedBlocks;
    public long PrefixHitBlocks => _hitBlocks;

    /// <summary>Prefix blocks reused so far, by the tier they came from ("dram", "far", "ssd").</summary>
    public IReadOnlyDictionary<string, long> PrefixHitsByTier
    {
        get { lock (_hitsByTier) return new Dictionary<string, long>(_hitsByTier); }
    }

    private readonly Dictionary<string, long> _hitsByTier = new();

    public KvSequence NewSequence(int maxPositions) => new(Pool, maxPositions);

    /// <summary>
    /// Gives an empty sequence the longest run of full blocks of <paramref name="prompt"/> found in any tier, leaving
    /// at least the last token to compute (its logits are needed). DRAM blocks are shared; blocks of lower tiers are
    /// read in parallel (on dedicated reader threads) into fresh DRAM blocks and promoted there.
    /// </summary>
    public PrefixReuse AttachPrefix(KvSequence seq, ReadOnlySpan<int> prompt) => BeginAttachPrefix(seq, prompt).Complete();

    /// <summary>
    /// <see cref="AttachPrefix"/> in two halves: this one plans, pins and allocates (on the engine's thread) and starts
    /// the lower tiers' reads; <see cref="PrefixLoad.Complete"/> — once <see cref="PrefixLoad.IsReady"/>, or waiting —
    /// attaches what was read. A scheduler computes other sequences meanwhile, so a prefix load from the ssd tier
    /// overlaps their work.
    /// </summary>
    public PrefixLoad BeginAttachPrefix(KvSequence seq, ReadOnlySpan<int> prompt)
    {
        int bt = _layout.BlockTokens;
        int candidates = prompt.Length / bt;
        var keys = new BlockHash[candidates];
        var parent = Fingerprint;
        for (int b = 0; b < candidates; b++) keys[b] = parent = BlockHash.Chain(parent, prompt.Slice(b * bt, bt));
        return Begin(seq, keys, prompt, promptLength: prompt.Length);
    }

    /// <summary>
    /// The lookup behind <see cref="AttachPrefix"/> on block keys directly (trace replay has keys and no tokens;
    /// <paramref name="tokens"/> may then be empty). Every block found is attached, none held back.
    /// </summary>
    public PrefixReuse AttachKeys(KvSequence seq, BlockHash[] allKeys, ReadOnlySpan<int> tokens) =>
        Begin(seq, allKeys, tokens, promptLength: -1).Complete();

    private PrefixLoad Begin(KvSequence seq, BlockHash[] allKeys, ReadOnlySpan<int> tokens, int promptLength)
    {
        if (seq.Length != 0) throw new InvalidOperationException("a prefix can only be attached to an empty sequence");
        int bt = _layout.BlockTokens;
        var keys = !PrefixCaching ? [] : allKeys.Length * bt <= seq.MaxPositions ? allKeys : allKeys[..(seq.MaxPositions / bt)];
        int kept = Math.Min(tokens.Length, keys.Length * bt);
        var load = new PrefixLoad(this, seq, keys, tokens[..kept].ToArray(), promptLength);
        var (source, ids) = (load.Source, load.Ids);

        // Plan first, touching nothing: where each leading block is, up to the first block no local tier has. A remote
        // store is asked afterwards, in one batch, off this thread.
        int found = 0;
        for (; found < keys.Length; found++)
        {
            if (Pool.Contains(keys[found])) { source[found] = -1; continue; }
            int level = Array.FindIndex(_levels, l => l.Contains(keys[found]));
            if (level < 0) break;
            source[found] = level;
        }

        // Pin every planned block — DRAM hits in the pool, the rest in their tiers — before allocating room for the
        // loads: an allocation evicts DRAM blocks downward, which must not push out what is about to be read.
        for (int b = 0; b < found; b++) if (source[b] >= 0) _levels[source[b]].Pin(keys[b]);
        for (int b = 0; b < found; b++)
            if (source[b] == -1 && !Pool.TryAcquire(keys[b], out ids[b])) throw new InvalidOperationException("planned block vanished");
        int usable = found;
        for (int b = 0; b < found && usable == found; b++)
            if (source[b] >= 0 && !Pool.TryAllocate(out ids[b])) { ids[b] = -1; usable = b; }
        load.Found = found;
        load.Usable = usable;

        for (int b = 0; b < usable; b++) if (source[b] >= 0) load.Loads.Add(b);
        var ok = load.Ok;
        var store = Pool.Store;
        if (store is null)
        {
            // Metadata only (replay): nothing to read.
            foreach (int b in load.Loads) ok[b] = _levels[source[b]].Contains(keys[b]);
            return load;
        }
        if (load.Loads.Count > 0)
        {
            var blocks = load.Loads.Select(b => (Level: _levels[source[b]], Key: keys[b], Id: ids[b], Index: b)).ToArray();
            load.AddReads(TierReaders.Begin(blocks.Length, i =>
            {
                var (level, key, id, index) = blocks[i];
                ok[index] = level.TryRead(key, store.Block(id));
            }));
        }
        if (_remote is { } remote && usable == found && found < keys.Length)
        {
            // Everything past the local prefix is asked of the store in one batch, into blocks allocated now: the
            // prompt needs them anyway (read or computed), so a miss costs nothing but the nil answers.
            int level = Array.IndexOf(_levels, remote), got = 0;
            while (found + got < keys.Length && Pool.TryAllocate(out ids[found + got]))
            {
                source[found + got] = level;
                load.Loads.Add(found + got);
                got++;
            }
            if (found + got < keys.Length) ids[found + got] = -1;
            load.Found = load.Usable = found + got;
            int from = found;
            if (got > 0)
                load.AddReads(TierReaders.Begin(1, _ => remote.ReadMany(keys.AsSpan(from, got), i => store.Block(ids[from + i]), ok.AsSpan(from, got))));
        }
        return load;
    }

    /// <summary>Called by <see cref="PrefixLoad.Complete"/> on the engine's thread once the reads are done.</summary>
    internal PrefixReuse Finish(PrefixLoad load)
    {
        int bt = _layout.BlockTokens;
        var (seq, keys, source, ids, ok) = (load.Sequence, load.Keys, load.Source, load.Ids, load.Ok);
        int usable = load.Usable;
        foreach (int b in load.Loads)
            if (!ok[b]) { usable = Math.Min(usable, b); break; }
        for (int b = 0; b < load.Found; b++) if (source[b] >= 0) _levels[source[b]].Unpin(keys[b]);
        // A prefix is only as long as its first gap: what lies past it is given back.
        for (int b = usable; b < load.Found; b++)
            if (ids[b] >= 0) Pool.Release(ids[b]);

        var byTier = new Dictionary<string, int> { ["dram"] = 0 };
        foreach (var l in _levels) byTier[l.Name] = 0;
        var tokens = load.Tokens;
        for (int b = 0; b < usable; b++)
        {
            if (source[b] >= 0) Pool.Register(ids[b], keys[b]);
            seq.AppendCached(ids[b], keys[b], tokens.Length >= (b + 1) * bt ? tokens.AsSpan(b * bt, bt) : _noTokens);
            byTier[source[b] == -1 ? "dram" : _levels[source[b]].Name]++;
        }
        Count(keys.Length, usable);
        lock (_hitsByTier)
            foreach (var (tier, n) in byTier) _hitsByTier[tier] = _hitsByTier.GetValueOrDefault(tier) + n;
        var reuse = new PrefixReuse(usable * bt, byTier);
        if (load.PromptLength <= 0 || seq.Length < load.PromptLength) return reuse;
        // Every token was cached: the last one is computed again for its logits, in a private copy of its block
        // (the sequence's copy-on-write), so the shared block is never written. With no block free for the copy
        // (every one in use), the last block is given back and computed again instead.
        int keep = Pool.FreeBlocks > 0 ? load.PromptLength - 1 : (load.PromptLength - 1) / bt * bt;
        seq.Truncate(keep);
        return reuse with { Tokens = keep };
    }

    /// <summary>
    /// Names the sequence's newly completed full blocks, so that other sequences (and later processes, through the
    /// ssd tier) find them. Call after each forward pass; it costs one hash per completed block.
    /// </summary>
    public void Commit(KvSequence seq)
    {
        if (!PrefixCaching) return;
        int bt = _layout.BlockTokens;
        var tokens = seq.Tokens;
        var parent = seq.CommittedBlocks > 0 ? seq.CommittedHashes[^1] : Fingerprint;
        for (int b = seq.CommittedBlocks; b < seq.Length / bt; b++)
        {
            var key = BlockHash.Chain(parent, tokens.Slice(b * bt, bt));
            CommitKey(seq, b, key);
            parent = key;
        }
    }

    /// <summary>Commits block <paramref name="index"/> of the sequence under a key given by the caller (replay).</summary>
    public void CommitKey(KvSequence seq, int index, BlockHash key)
    {
        if (index != seq.CommittedBlocks) throw new InvalidOperationException("blocks are committed in order");
        seq.MarkCommitted(key);
        int id = seq.BlockTable[index];
        bool named = Pool.Register(id, key);
        if (named && _writeMode == KvWriteMode.Through)
            foreach (var level in _through) level.Put(key, Pool.Store is { } s ? s.Block(id) : default);
    }

    // A cached DRAM block is about to be reused: keep its content one tier down.
    private void Demote(int id, BlockHash key)
    {
        if (_levels.Length == 0) return;
        var first = _levels[0];
        if (!first.Tier.Persistent || _writeMode == KvWriteMode.Back)
            first.Put(key, Pool.Store is { } s ? s.Block(id) : default);
    }

    private void Count(int queried, int hits)
    {
        _queries++;
        _queriedBlocks += queried;
        _hitBlocks += hits;
    }

    /// <summary>Waits for background writes to reach their tiers.</summary>
    public bool Flush(TimeSpan timeout)
    {
        bool all = true;
        foreach (var l in _levels) all &= l.Flush(timeout);
        return all;
    }

    public void Dispose()
    {
        foreach (var l in _levels) l.Dispose();
        _ownedStore?.Dispose();
    }
}
