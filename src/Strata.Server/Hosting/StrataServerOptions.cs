using Strata.Engine;
using Strata.Kv;

namespace Strata.Server.Hosting;

/// <summary>What <c>strata serve</c> was asked for: where to listen, which model, how many sequences at once.</summary>
public sealed class StrataServerOptions
{
    /// <summary>The GGUF file to serve.</summary>
    public required string ModelPath { get; init; }
    /// <summary>Loopback unless told otherwise: a server on every interface must be asked for.</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>0 picks a free port (tests); <see cref="StrataServer.Address"/> tells which.</summary>
    public int Port { get; init; } = 8080;
    /// <summary>When set, every endpoint but /health needs "Authorization: Bearer KEY".</summary>
    public string? ApiKey { get; init; }
    /// <summary>Sequences computed together (and the most choices one request may ask for).</summary>
    public int Parallel { get; init; } = 4;
    /// <summary>Context positions per sequence; 0: the model's, capped.</summary>
    public int Context { get; init; }
    public int Threads { get; init; }
    public KvCacheOptions Kv { get; init; } = new();
    /// <summary>How K and V are stored (<c>--kv-type</c>).</summary>
    public KvType KvType { get; init; } = KvType.F16;
    /// <summary>Bounds on what a request may ask; also bound from the "Strata:Limits" configuration section.</summary>
    public ServerLimits Limits { get; init; } = new();
    /// <summary>Loads the model instead of <see cref="Model.Load"/> (tests hold it back to see /health say 503).</summary>
    public Func<Model>? Loader { get; init; }
}

/// <summary>Request bounds and timeouts, each settable from configuration (e.g. Strata__Limits__MaxMessages=64).</summary>
public sealed class ServerLimits
{
    public long MaxBodyBytes { get; set; } = 8 << 20;
    public int MaxMessages { get; set; } = 1024;
    public int MaxStopStrings { get; set; } = 16;
    /// <summary>Functions one request may offer (OpenAI's limit).</summary>
    public int MaxTools { get; set; } = 128;
    /// <summary>Prompts in one /v1/completions request.</summary>
    public int MaxPrompts { get; set; } = 16;
    /// <summary>Inputs in one /v1/embeddings request (OpenAI's limit).</summary>
    public int MaxEmbeddingInputs { get; set; } = 2048;
    /// <summary>Requests waiting for a slot before new ones get 429.</summary>
    public int MaxWaiting { get; set; } = 256;
    /// <summary>A request still generating after this long is stopped; 0: never.</summary>
    public double RequestTimeoutSeconds { get; set; } = 600;
    /// <summary>On SIGTERM, how long in-flight requests may still run before they are cancelled.</summary>
    public double ShutdownGraceSeconds { get; set; } = 10;
}
