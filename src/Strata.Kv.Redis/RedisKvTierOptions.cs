using System.Globalization;

namespace Strata.Kv.Redis;

/// <summary>
/// Where the remote tier's store is and how it is used, from <c>--kv-tiers remote=URL</c>:
/// <c>redis[s]://[user:password@]host[:port][/db][?ttl=24h&amp;prefix=strata:kv:&amp;timeout=500ms&amp;connect-timeout=2s]</c>.
/// One node's address is enough for a Redis Cluster: the client discovers the others.
/// </summary>
public sealed record RedisKvTierOptions
{
    public const int DefaultPort = 6379;

    public required string Host { get; init; }
    public int Port { get; init; } = DefaultPort;
    public string? User { get; init; }
    public string? Password { get; init; }
    public bool Tls { get; init; }
    public int Database { get; init; }
    /// <summary>Expiry of every block written (refreshed when it is written again); null: none, the store's memory policy alone evicts.</summary>
    public TimeSpan? Ttl { get; init; } = TimeSpan.FromHours(24);
    /// <summary>The start of every key: keys are PREFIX + "v1:" + fingerprint + ":" + block hash.</summary>
    public string KeyPrefix { get; init; } = "strata:kv:";
    /// <summary>How long one batch (a lookup, a read, a write) may take before it counts as a miss and a failure.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>After a failure the tier is skipped this long, doubling on each failed retry up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan MinBackoff { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Writes sent and not yet answered; past this, writes are dropped (counted) rather than queued without bound.</summary>
    public int MaxWritesInFlight { get; init; } = 256;

    /// <summary>The address without the password, for logs.</summary>
    public string Display => $"{(Tls ? "rediss" : "redis")}://{(User is null && Password is null ? "" : "***@")}{Host}:{Port}{(Database != 0 ? "/" + Database : "")}";

    public static RedisKvTierOptions Parse(string text) =>
        TryParse(text, out var o, out var error) ? o : throw new StrataException($"--kv-tiers remote: {error}");

    public static bool TryParse(string text, out RedisKvTierOptions options, out string? error)
    {
        options = null!;
        error = null;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("redis" or "rediss") || uri.Host.Length == 0)
        {
            error = $"'{text}' is not a store address (redis://HOST:PORT, rediss://… for TLS)";
            return false;
        }
        string? user = null, password = null;
        if (uri.UserInfo.Length > 0)
        {
            string info = Uri.UnescapeDataString(uri.UserInfo);
            int colon = info.IndexOf(':');
            (user, password) = colon < 0 ? (null, info) : (info[..colon].Length > 0 ? info[..colon] : null, info[(colon + 1)..]);
        }
        int db = 0;
        string path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0 && (!int.TryParse(path, NumberStyles.None, CultureInfo.InvariantCulture, out db) || db > 15))
        {
            error = $"'/{path}' is not a database number (0–15)";
            return false;
        }
        var o = new RedisKvTierOptions
        {
            Host = uri.Host.Trim('[', ']'),
            Port = uri.IsDefaultPort || uri.Port <= 0 ? DefaultPort : uri.Port,
            User = user,
            Password = password,
            Tls = uri.Scheme == "rediss",
            Database = db,
        };
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=');
            string name = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]).ToLowerInvariant();
            string value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            TimeSpan span = default;
            bool isDuration = name is "ttl" or "timeout" or "connect-timeout";
            if (isDuration && !TryDuration(value, out span))
            {
                error = $"{name}={value}: not a duration (for example 500ms, 2s, 30m, 24h; ttl=0 for none)";
                return false;
            }
            switch (name)
            {
                case "ttl": o = o with { Ttl = span == TimeSpan.Zero ? null : span }; break;
                case "timeout" when span > TimeSpan.Zero: o = o with { Timeout = span }; break;
                case "connect-timeout" when span > TimeSpan.Zero: o = o with { ConnectTimeout = span }; break;
                case "prefix" when value.Length > 0 && !value.Contains('{') && !value.Contains('}'):
                    o = o with { KeyPrefix = value };
                    break;
                case "prefix":
                    // Braces would be a cluster hash tag, putting every block on one node.
                    error = $"prefix={value}: give a non-empty prefix without braces";
                    return false;
                case "timeout" or "connect-timeout":
                    error = $"{name}={value}: must be more than 0";
                    return false;
                default:
                    error = $"unknown option '{name}' (options: ttl, prefix, timeout, connect-timeout)";
                    return false;
            }
        }
        options = o;
        return true;
    }

    /// <summary>"500ms", "2s", "30m", "24h", "1d", or a plain number of seconds.</summary>
    public static bool TryDuration(string text, out TimeSpan span)
    {
        span = default;
        text = text.Trim().ToLowerInvariant();
        int i = 0;
        while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.')) i++;
        if (i == 0 || !double.TryParse(text[..i], NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || v < 0 || v > 1e9) return false;
        double seconds = text[i..] switch
        {
            "" or "s" => v,
            "ms" => v / 1000,
            "m" => v * 60,
            "h" => v * 3600,
            "d" => v * 86400,
            _ => -1,
        };
        if (seconds < 0) return false;
        span = TimeSpan.FromSeconds(seconds);
        return true;
    }
}
