using Strata.Engine;
using Strata.Engine.Serving;
using Strata.Kv;

namespace Strata.Extensions.AI;

/// <summary>
/// How a <see cref="StrataChatClient"/> or <see cref="StrataEmbeddingGenerator"/> loads its model and runs it: the
/// GGUF file, threads, context, how many sequences are batched together, and the tiered KV cache. Bound from
/// configuration by <c>AddStrataChatClient</c> (section <c>Strata</c>) and <c>AddStrataEmbeddingGenerator</c>
/// (section <c>Strata:Embeddings</c>), e.g. <c>"Strata": { "ModelPath": "model.gguf", "Kv": { "Directory": "kv" } }</c>.
/// </summary>
public sealed class StrataOptions
{
    /// <summary>The GGUF model; null or empty: the default model (the <c>Strata.Models.Default</c> package ships one).</summary>
    public string? ModelPath { get; set; }

    /// <summary>Compute threads; 0: one per core.</summary>
    public int Threads { get; set; }

    /// <summary>Context positions per sequence; 0: the model's trained context, capped at 4096.</summary>
    public int Context { get; set; }

    /// <summary>Sequences computed together: concurrent callers beyond this wait in a fair queue.</summary>
    public int Parallel { get; set; } = 4;

    /// <summary>Requests that may wait at most; more are refused with <see cref="EngineBusyException"/>.</summary>
    public int MaxWaiting { get; set; } = 256;

    /// <summary>A request still running after this many seconds is stopped; 0: never.</summary>
    public double RequestTimeoutSeconds { get; set; } = 600;

    /// <summary>
    /// Embedding vectors scaled to unit length (llama.cpp's default, <c>--embd-normalize 2</c>, and OpenAI's); false
    /// returns the pooled hidden state as it is. A call can override it with
    /// <c>EmbeddingGenerationOptions.AdditionalProperties["normalize"]</c>.
    /// </summary>
    public bool NormalizeEmbeddings { get; set; } = true;

    /// <summary>The tiered KV cache: sizes, the ssd directory (KV and conversations kept across restarts), policy, type.</summary>
    public StrataKvOptions Kv { get; set; } = new();

    /// <summary>The model path to load: <see cref="ModelPath"/>, else the default model, else a clear error.</summary>
    public string ResolveModelPath() =>
        !string.IsNullOrWhiteSpace(ModelPath) ? ModelPath
        : DefaultModel.Find() ?? throw new StrataException(
            $"no model: set StrataOptions.ModelPath, reference the Strata.Models.Default package (it puts {DefaultModel.FileName} beside the app), or set {DefaultModel.EnvironmentVariable}");

    internal ModelOptions ToModelOptions(Action<string> warn)
    {
        if (Parallel < 1) throw new StrataException($"Parallel = {Parallel}: at least one sequence must run");
        if (Threads < 0) throw new StrataException($"Threads = {Threads}: 0 (one per core) or more");
        return new ModelOptions
        {
            Threads = Threads,
            Context = Context,
            MaxSequences = Parallel,
            KvType = KvTypeInfo.Parse(Kv.Type),
            Kv = Kv.ToCacheOptions(warn),
        };
    }

    internal EngineOptions ToEngineOptions(Action<Exception> onError) => new()
    {
        MaxRunning = Parallel,
        MaxWaiting = MaxWaiting,
        RequestTimeout = TimeSpan.FromSeconds(Math.Max(0, RequestTimeoutSeconds)),
        OnError = onError,
    };
}

/// <summary>The tiered KV cache, as <c>strata run</c>'s <c>--kv-*</c> options give it.</summary>
public sealed class StrataKvOptions
{
    /// <summary>Directory of the ssd tier: KV blocks (and conversations) kept across requests and restarts; null: none.</summary>
    public string? Directory { get; set; }

    /// <summary>Tier sizes, e.g. <c>dram=2GiB,far=8GiB,ssd=64GiB</c> (ssd needs <see cref="Directory"/>); null: defaults.</summary>
    public string? Tiers { get; set; }

    /// <summary>Eviction policy of every tier: <c>s3fifo</c>, <c>arc</c> or <c>lru</c>.</summary>
    public string Policy { get; set; } = Strata.Kv.Policies.EvictionPolicies.Default;

    /// <summary>When blocks reach the ssd tier: <c>through</c> (as they complete) or <c>back</c> (on eviction).</summary>
    public string Write { get; set; } = "through";

    /// <summary>How K and V are stored: <c>f16</c>, or <c>q8_0</c> at about half the bytes.</summary>
    public string Type { get; set; } = "f16";

    /// <summary>NUMA node of the far tier; null: the CPU-less node found, if any.</summary>
    public int? FarNode { get; set; }

    /// <summary>False computes every prompt in full (for measuring what the cache saves).</summary>
    public bool PrefixCaching { get; set; } = true;

    internal KvCacheOptions ToCacheOptions(Action<string> warn) => new KvCacheOptions
    {
        Policy = Policy,
        WriteMode = Write.ToLowerInvariant() switch
        {
            "through" => KvWriteMode.Through,
            "back" => KvWriteMode.Back,
            _ => throw new StrataException($"Kv.Write = '{Write}': use 'through' or 'back'"),
        },
        FarNode = FarNode,
        PrefixCaching = PrefixCaching,
        Warn = warn,
    }.WithTiers(Tiers, string.IsNullOrWhiteSpace(Directory) ? null : Directory);
}
