using StackExchange.Redis;
using Strata.Kv.Tiers;

namespace Strata.Kv.Redis;

/// <summary>
/// The <c>remote</c> tier: KV blocks in a Redis-protocol store (Garnet, Redis, Valkey; one node or a cluster) shared by
/// every Strata process that uses it. A block is the value of <c>PREFIX v1:FINGERPRINT:HASH</c> — the same identity as
/// every other tier — holding a compact <see cref="KvBlockRecord"/> (versioned, CRC-32C checked: a value that fails is a
/// counted miss and is deleted, never data). Lookups and reads are pipelined batches of single-key commands (EXISTS,
/// GET), one round trip each; single-key commands, because the keys of one prefix hash to different cluster slots and
/// a multi-key command across slots fails. Writes are asynchronous, bounded in flight, with the TTL option as expiry;
/// memory limits are the store's. A store that is down, slow or answers garbage costs misses, counters and one warning
/// (<see cref="CircuitBreaker"/>): never a failed or stalled request.
/// </summary>
public sealed class RedisKvTier : IKvTier, IKvTierHealth
{
    private readonly RedisKvTierOptions _o;
    private readonly KvLayout _layout;
    private readonly BlockHash _fingerprint;
    private readonly Action<string> _warn;
    private readonly ConnectionMultiplexer _redis;
    private readonly IDatabase _db;
    private readonly CircuitBreaker _breaker;
    private readonly SemaphoreSlim _writes;
    private readonly string _keyStart;
    private int _corruptWarned;
    private long _corrupt, _errors, _droppedWrites, _readBytes, _writtenBytes, _roundTrips;

    public RedisKvTier(RedisKvTierOptions options, KvTierContext context)
    {
        _o = options;
        _layout = context.Layout;
        _fingerprint = context.Fingerprint;
        _warn = context.Warn;
        _keyStart = $"{options.KeyPrefix}v{KvBlockRecord.Version}:{context.Fingerprint}:";
        _breaker = new CircuitBreaker(options.MinBackoff, options.MaxBackoff,
            why => _warn($"kv remote tier {options.Display}: {why}; its lookups are misses and its writes are dropped until it answers (retried with back-off up to {options.MaxBackoff.TotalSeconds:0} s); generation goes on"));
        _writes = new SemaphoreSlim(options.MaxWritesInFlight, options.MaxWritesInFlight);
        var config = new ConfigurationOptions
        {
            // A store that is down at start-up is retried in the background, not a failed start.
            AbortOnConnectFail = false,
            // While disconnected, commands fail at once instead of queueing behind the reconnection.
            BacklogPolicy = BacklogPolicy.FailFast,
            ConnectTimeout = (int)options.ConnectTimeout.TotalMilliseconds,
            SyncTimeout = (int)options.Timeout.TotalMilliseconds,
            AsyncTimeout = (int)options.Timeout.TotalMilliseconds,
            ConnectRetry = 1,
            ClientName = "strata",
            User = options.User,
            Password = options.Password,
            Ssl = options.Tls,
            DefaultDatabase = options.Database,
        };
        config.EndPoints.Add(options.Host, options.Port);
        _redis = ConnectionMultiplexer.Connect(config);
        _db = _redis.GetDatabase(options.Database);
        if (!_redis.IsConnected) _breaker.Failure($"not reachable at start-up ({_redis.GetStatus().Split('\n')[0].Trim()})");
    }

    /// <summary>Makes <c>--kv-tiers remote=redis://HOST:PORT</c> available (the CLI and the server call this once).</summary>
    public static void Register() =>
        KvTierFactories.Register("remote", (spec, context) => new RedisKvTier(RedisKvTierOptions.Parse(spec), context),
            spec => RedisKvTierOptions.TryParse(spec, out _, out var error) ? null : error);

    public string Name => "remote";
    public bool IsSlow => true;
    public bool Persistent => true;
    public bool IsRemote => true;
    public IReadOnlyCollection<BlockHash> Keys => [];
    public RedisKvTierOptions Options => _o;

    public long CorruptBlocks => Interlocked.Read(ref _corrupt);
    public long Errors => Interlocked.Read(ref _errors);
    public bool Available => _breaker.IsClosed;
    public long DroppedWrites => Interlocked.Read(ref _droppedWrites);
    public long ReadBytes => Interlocked.Read(ref _readBytes);
    public long WrittenBytes => Interlocked.Read(ref _writtenBytes);
    /// <summary>Batches sent (each one round trip to every node it touches).</summary>
    public long RoundTrips => Interlocked.Read(ref _roundTrips);
    public CircuitBreaker Breaker => _breaker;

    public string Describe()
    {
        int nodes = _redis.GetEndPoints().Length;
        bool cluster = _redis.GetServers().Any(s => s.IsConnected && s.ServerType == ServerType.Cluster);
        return $"remote: {_o.Display} ({(cluster ? $"cluster, {nodes} nodes" : _redis.IsConnected ? "one node" : "not connected")}), keys {_keyStart}HASH, " +
               $"ttl {(_o.Ttl is { } t ? t.ToString() : "none")}, timeout {_o.Timeout.TotalMilliseconds:0} ms";
    }

    /// <summary>The store key of a block.</summary>
    public RedisKey KeyOf(BlockHash key) => _keyStart + key.ToString();

    public bool Contains(BlockHash key) => CountLeading([key]) == 1;

    public int CountLeading(ReadOnlySpan<BlockHash> keys)
    {
        if (keys.IsEmpty || !_breaker.TryEnter()) return Skipped(0);
        var batch = _db.CreateBatch();
        var answers = new Task<bool>[keys.Length];
        for (int i = 0; i < keys.Length; i++) answers[i] = batch.KeyExistsAsync(KeyOf(keys[i]));
        if (!Run(batch, answers, "a lookup")) return 0;
        int n = 0;
        while (n < answers.Length && answers[n].Result) n++;
        return n;
    }

    public bool TryRead(BlockHash key, Span<byte> destination)
    {
        Span<bool> ok = stackalloc bool[1];
        var target = new byte[destination.Length];
        ReadMany([key], _ => target, ok);
        if (ok[0]) target.CopyTo(destination);
        return ok[0];
    }

    public void ReadMany(ReadOnlySpan<BlockHash> keys, BlockDestination destination, Span<bool> ok)
    {
        ok.Clear();
        if (keys.IsEmpty || !_breaker.TryEnter())
        {
            Skipped(0);
            return;
        }
        var batch = _db.CreateBatch();
        var values = new Task<Lease<byte>?>[keys.Length];
        for (int i = 0; i < keys.Length; i++) values[i] = batch.StringGetLeaseAsync(KeyOf(keys[i]));
        if (!Run(batch, values, "a read"))
        {
            foreach (var v in values) if (v.IsCompletedSuccessfully) v.Result?.Dispose();
            return;
        }
        for (int i = 0; i < keys.Length; i++)
        {
            using var lease = values[i].Result;
            if (lease is null) continue;
            var record = lease.Span;
            if (KvBlockRecord.CheckCompact(record, _fingerprint, keys[i], _layout) is { } problem)
            {
                Corrupt(keys[i], problem);
                continue;
            }
            record[KvBlockRecord.CompactHeaderBytes..].CopyTo(destination(i));
            Interlocked.Add(ref _readBytes, record.Length);
            ok[i] = true;
        }
    }

    public bool TryWrite(BlockHash key, ReadOnlySpan<byte> source)
    {
        if (!_breaker.TryEnter()) return Skipped(false);
        // Bounded in flight: a slow store costs dropped writes, not memory without end.
        if (!_writes.Wait(0))
        {
            Interlocked.Increment(ref _droppedWrites);
            return false;
        }
        var record = KvBlockRecord.EncodeCompact(_fingerprint, key, _layout, source);
        Interlocked.Increment(ref _roundTrips);
        Task<bool> sent;
        try
        {
            sent = _db.StringSetAsync(KeyOf(key), record, _o.Ttl, When.Always);
        }
        catch (Exception e)
        {
            _writes.Release();
            Fail("a write", e);
            return false;
        }
        sent.ContinueWith(t =>
        {
            _writes.Release();
            if (t.IsCompletedSuccessfully)
            {
                Interlocked.Add(ref _writtenBytes, record.Length);
                _breaker.Success();
            }
            else Fail("a write", t.Exception?.GetBaseException());
        }, TaskScheduler.Default);
        return true;
    }

    public void Remove(BlockHash key)
    {
        if (!_breaker.TryEnter()) return;
        try { _db.KeyDelete(KeyOf(key), CommandFlags.FireAndForget); }
        catch (Exception e) { Fail("a delete", e); }
    }

    /// <summary>Sends a batch and waits for all its answers up to the timeout; false (counted, breaker told) when it failed.</summary>
    private bool Run(IBatch batch, Task[] answers, string what)
    {
        Interlocked.Increment(ref _roundTrips);
        try
        {
            batch.Execute();
            if (!Task.WaitAll(answers, _o.Timeout))
            {
                Fail(what, new TimeoutException($"no answer in {_o.Timeout.TotalMilliseconds:0} ms"));
                return false;
            }
            _breaker.Success();
            return true;
        }
        catch (Exception e)
        {
            Fail(what, e is AggregateException a ? a.GetBaseException() : e);
            return false;
        }
    }

    private void Fail(string what, Exception? e)
    {
        Interlocked.Increment(ref _errors);
        _breaker.Failure($"{what} failed: {e?.GetType().Name}: {FirstLine(e?.Message)}");
    }

    private static string FirstLine(string? s) => s is null ? "" : s.Split('\n')[0].Trim();

    private T Skipped<T>(T result)
    {
        Interlocked.Increment(ref _errors);
        return result;
    }

    private void Corrupt(BlockHash key, string problem)
    {
        Interlocked.Increment(ref _corrupt);
        if (Interlocked.Exchange(ref _corruptWarned, 1) == 0)
            _warn($"kv remote tier {_o.Display}: {KeyOf(key)}: {problem}; such values are treated as misses and deleted");
        Remove(key);
    }

    /// <summary>Waits until every write sent has been answered (or the timeout passes); true when none is left.</summary>
    public bool WaitForWrites(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (_writes.CurrentCount < _o.MaxWritesInFlight)
        {
            if (DateTime.UtcNow > deadline) return false;
            Thread.Sleep(1);
        }
        return true;
    }

    /// <summary>Waits (a few timeouts at most) for writes in flight, then closes the connection.</summary>
    public void Dispose()
    {
        WaitForWrites(_o.Timeout * 4);
        _redis.Dispose();
    }
}
