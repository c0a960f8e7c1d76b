using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Strata.Chat;
using Strata.Engine;
using Strata.Engine.Serving;

namespace Strata.Extensions.AI;

/// <summary>
/// A loaded model with its serving engine (continuous batching, the same scheduler as <c>strata serve</c>) and chat
/// template: what a chat client or an embedding generator runs on. Logs the load and the KV tiers; on dispose, stops
/// the engine and flushes the tiers' pending writes.
/// </summary>
internal sealed class StrataRuntime : IDisposable
{
    private readonly ILogger _log;
    private readonly bool _ownsEngine;

    public StrataRuntime(StrataOptions options, ILogger? log)
    {
        _log = log ?? NullLogger.Instance;
        _ownsEngine = true;
        string path = options.ResolveModelPath();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var model = Model.Load(path, options.ToModelOptions(message => _log.LogWarning("KV cache: {Warning}", message)));
        try
        {
            Engine = new InferenceEngine(model, options.ToEngineOptions(e => _log.LogError(e, "engine error: {Error}", e.Message)));
            Template = ChatPrompt.TemplateFor(model);
            Format = ChatFormat.Of(Template, model.Tokenizer.Vocabulary);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        Model = model;
        KvDirectory = string.IsNullOrWhiteSpace(options.Kv.Directory) ? null : options.Kv.Directory;
        _log.LogInformation("Strata loaded {Model} in {Ms:F0} ms: context {Context} per sequence, {Parallel} in parallel, {Blocks} KV blocks{Pooling}",
            System.IO.Path.GetFileName(path), clock.Elapsed.TotalMilliseconds, model.Context, options.Parallel, model.KvPool.Capacity,
            model.Config.Pooling != Models.PoolingType.None ? $", {model.Config.Pooling.ToString().ToLowerInvariant()} pooling" : "");
        foreach (var level in model.KvCache.LowerTiers) _log.LogInformation("Strata KV tier {Tier}", level.Tier.Describe());
    }

    /// <summary>On an engine the caller made and keeps (it is not disposed here).</summary>
    public StrataRuntime(InferenceEngine engine, ILogger? log)
    {
        _log = log ?? NullLogger.Instance;
        Engine = engine;
        Model = engine.Model;
        Template = ChatPrompt.TemplateFor(engine.Model);
        Format = ChatFormat.Of(Template, engine.Model.Tokenizer.Vocabulary);
    }

    public Model Model { get; }
    public InferenceEngine Engine { get; }
    public ChatTemplate Template { get; }
    /// <summary>What the template implies for the output: the family's call syntax, think tags.</summary>
    public ChatFormat Format { get; }
    /// <summary>The ssd tier's directory, where conversations are kept too; null without one.</summary>
    public string? KvDirectory { get; }
    public ILogger Log => _log;

    /// <summary>The model's name in responses: its file name without ".gguf".</summary>
    public string ModelId => System.IO.Path.GetFileNameWithoutExtension(Model.Path);

    /// <summary>Whether <paramref name="requested"/> names this model (file name with or without .gguf, or general.name).</summary>
    public bool IsThisModel(string requested) =>
        string.Equals(requested, ModelId, StringComparison.OrdinalIgnoreCase)
        || string.Equals(requested, System.IO.Path.GetFileName(Model.Path), StringComparison.OrdinalIgnoreCase)
        || Model.File.Metadata.TryGetString("general.name") is { Length: > 0 } g && string.Equals(requested, g, StringComparison.OrdinalIgnoreCase);

    public void Dispose()
    {
        if (!_ownsEngine) return;
        Engine.Dispose();
        if (!Model.KvCache.Flush(TimeSpan.FromSeconds(10))) _log.LogWarning("Strata KV tiers still had writes pending after 10 s");
        Model.Dispose();
    }
}
