using System.Diagnostics;

namespace Strata.Kv.Redis;

/// <summary>
/// Keeps a failing store out of the request path: after a failure every operation is refused (a miss, a dropped
/// write) for a back-off period; then one operation is let through as a trial — success closes the breaker, failure
/// reopens it for twice as long, up to the maximum. The first failure of an outage warns once; the retries do not.
/// </summary>
public sealed class CircuitBreaker
{
    private readonly Lock _lock = new();
    private readonly TimeSpan _min, _max;
    private readonly Action<string> _warn;
    private readonly Func<long> _now;
    private TimeSpan _backoff;
    private long _retryAt;      // Stopwatch ticks; while open, nothing goes through before this
    private bool _open, _trial;
    private long _lastWarning = long.MinValue;

    /// <summary>A new outage warns again only this long after the last warning, so a flapping store is one line a while.</summary>
    public static readonly TimeSpan WarningInterval = TimeSpan.FromMinutes(10);

    /// <param name="now">The clock in <see cref="Stopwatch"/> ticks (tests step it).</param>
    public CircuitBreaker(TimeSpan minBackoff, TimeSpan maxBackoff, Action<string> warn, Func<long>? now = null)
    {
        _min = minBackoff;
        _max = maxBackoff < minBackoff ? minBackoff : maxBackoff;
        _backoff = _min;
        _warn = warn;
        _now = now ?? Stopwatch.GetTimestamp;
    }

    /// <summary>False while open: the caller skips the store.</summary>
    public bool IsClosed
    {
        get { lock (_lock) return !_open; }
    }

    /// <summary>Outages so far (closed to open), and operations refused while open.</summary>
    public long Trips { get; private set; }
    public long Refused { get; private set; }

    /// <summary>Whether an operation may go to the store now; while open, one trial once the back-off has passed.</summary>
    public bool TryEnter()
    {
        lock (_lock)
        {
            if (!_open) return true;
            if (!_trial && _now() >= _retryAt)
            {
                _trial = true;
                return true;
            }
            Refused++;
            return false;
        }
    }

    public void Success()
    {
        lock (_lock)
        {
            if (!_open) return;
            _open = _trial = false;
            _backoff = _min;
        }
    }

    public void Failure(string why)
    {
        string? warning = null;
        lock (_lock)
        {
            long now = _now();
            if (_open)
            {
                // A failed trial (or a failure of an operation that started before the breaker opened).
                if (_trial) _backoff = TimeSpan.FromTicks(Math.Min(_max.Ticks, _backoff.Ticks * 2));
                _trial = false;
            }
            else
            {
                _open = true;
                Trips++;
                if (_lastWarning == long.MinValue || now - _lastWarning >= (long)(WarningInterval.TotalSeconds * Stopwatch.Frequency))
                {
                    _lastWarning = now;
                    warning = why;
                }
            }
            _retryAt = now + (long)(_backoff.TotalSeconds * Stopwatch.Frequency);
        }
        if (warning is not null) _warn(warning);
    }

    /// <summary>The current back-off (for tests and Describe).</summary>
    public TimeSpan Backoff
    {
        get { lock (_lock) return _backoff; }
    }
}
