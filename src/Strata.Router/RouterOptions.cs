namespace Strata.Router;

/// <summary>What <c>strata router</c> was asked for.</summary>
public sealed class RouterOptions
{
    /// <summary>The <c>strata serve</c> backends (http://host:port), at most <see cref="AffinityTable.MaxBackends"/>.</summary>
    public required IReadOnlyList<Uri> Backends { get; init; }
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>0 picks a free port (tests); <see cref="StrataRouter.Address"/> tells which.</summary>
    public int Port { get; init; } = 8080;
    /// <summary>The GGUF whose tokenizer and chat template cut prompts into blocks (the backends' model).</summary>
    public required string ModelPath { get; init; }
    public RoutePolicy Policy { get; init; } = RoutePolicy.Prefix;
    /// <summary>How often each backend's /health and /metrics are read.</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>A backend is taken out after this many failed health checks in a row (at once when a request cannot reach it).</summary>
    public int FailuresToDown { get; init; } = 2;
    /// <summary>Request bodies larger than this are refused with 413, as the server does.</summary>
    public long MaxBodyBytes { get; init; } = 8 << 20;
    /// <summary>Longest silence of a backend inside one response before the router gives up on it.</summary>
    public TimeSpan ActivityTimeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>Entries of the block-to-backend table.</summary>
    public int AffinityCapacity { get; init; } = 1 << 20;

    /// <summary>Parses <c>--backends URL,URL,…</c>: absolute http(s) URLs, no duplicates.</summary>
    public static IReadOnlyList<Uri> ParseBackends(string text)
    {
        var list = new List<Uri>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string s = part.Contains("://", StringComparison.Ordinal) ? part : "http://" + part;
            if (!Uri.TryCreate(s, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https") || u.Host.Length == 0)
                throw new StrataException($"--backends: '{part}' is not a backend address (http://HOST:PORT)");
            if (u.AbsolutePath != "/" || u.Query.Length > 0)
                throw new StrataException($"--backends: '{part}' should be the server's address alone (http://HOST:PORT), without a path");
            if (list.Any(x => x.GetLeftPart(UriPartial.Authority) == u.GetLeftPart(UriPartial.Authority)))
                throw new StrataException($"--backends: '{part}' is given twice");
            list.Add(u);
        }
        if (list.Count == 0) throw new StrataException("--backends: give at least one backend (http://HOST:PORT,…)");
        if (list.Count > AffinityTable.MaxBackends) throw new StrataException($"--backends: at most {AffinityTable.MaxBackends} backends");
        return list;
    }
}
