using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Strata.Engine;
using Strata.Engine.Serving;

namespace Strata.Extensions.AI;

/// <summary>
/// Strata in-process as an <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> for embedding models: GGUF models
/// with a pooling type (<c>&lt;arch&gt;.pooling_type</c>: mean, CLS or last, e.g. Qwen3-Embedding), run without
/// logits, pooled and L2-normalised as llama.cpp does by default (<see cref="StrataOptions.NormalizeEmbeddings"/>, or
/// <c>AdditionalProperties["normalize"]</c> per call, turns that off). Inputs (and concurrent callers) are batched by the same engine
/// as the chat client's. <see cref="EmbeddingGenerationOptions.Dimensions"/> keeps the first N components, normalised
/// again (Matryoshka-style).
/// </summary>
public sealed class StrataEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly StrataRuntime _runtime;
    private readonly EmbeddingGeneratorMetadata _metadata;
    private readonly bool _normalize;
    private bool _disposed;

    /// <summary>A GGUF embedding model with default options.</summary>
    public StrataEmbeddingGenerator(string modelPath) : this(new StrataOptions { ModelPath = modelPath }) { }

    /// <summary>Loads the model as <paramref name="options"/> say; load and KV-tier messages go to <paramref name="logger"/>.</summary>
    /// <exception cref="StrataException">The model is missing or malformed, or has no pooling type (not an embedding model).</exception>
    public StrataEmbeddingGenerator(StrataOptions options, ILogger? logger = null)
        : this(new StrataRuntime(options ?? throw new ArgumentNullException(nameof(options)), logger), owns: true, options.NormalizeEmbeddings) { }

    /// <summary>On an engine the caller made and keeps (not disposed with this generator).</summary>
    public StrataEmbeddingGenerator(InferenceEngine engine, ILogger? logger = null)
        : this(new StrataRuntime(engine ?? throw new ArgumentNullException(nameof(engine)), logger), owns: false, normalize: true) { }

    private StrataEmbeddingGenerator(StrataRuntime runtime, bool owns, bool normalize)
    {
        if (runtime.Model.Config.Pooling == Models.PoolingType.None)
        {
            string name = Path.GetFileName(runtime.Model.Path);
            if (owns) runtime.Dispose();
            throw new StrataException($"{name} is not an embedding model (its GGUF has no {runtime.Model.Config.Architecture.Name}.pooling_type)");
        }
        _runtime = runtime;
        _normalize = normalize;
        _metadata = new EmbeddingGeneratorMetadata("strata", null, runtime.ModelId, runtime.Model.Config.Dim);
    }

    /// <summary>The loaded model.</summary>
    public Model Model => _runtime.Model;

    /// <summary>The serving engine the inputs run on.</summary>
    public InferenceEngine Engine => _runtime.Engine;

    /// <inheritdoc />
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(values);
        if (options?.ModelId is { Length: > 0 } modelId && !_runtime.IsThisModel(modelId))
            throw new ArgumentException($"EmbeddingGenerationOptions.ModelId '{modelId}' is not this generator's model ('{_runtime.ModelId}')", nameof(options));
        int dim = _runtime.Model.Config.Dim;
        if (options?.Dimensions is { } d && (d < 1 || d > dim))
            throw new ArgumentException($"Dimensions = {d}: this model's embeddings have 1 to {dim}", nameof(options));

        var inputs = new List<int[]>();
        foreach (var text in values)
        {
            ArgumentNullException.ThrowIfNull(text, nameof(values));
            var tokens = _runtime.Model.Tokenize(text);
            if (tokens.Length == 0) throw new ArgumentException($"values[{inputs.Count}] gives no tokens", nameof(values));
            if (tokens.Length > _runtime.Model.Context)
                throw new ArgumentException($"values[{inputs.Count}] is {tokens.Length} tokens; the model's context holds {_runtime.Model.Context}", nameof(values));
            inputs.Add(tokens);
        }
        bool normalize = _normalize;
        if (options?.AdditionalProperties?.TryGetValue("normalize", out var n) == true)
            normalize = n switch
            {
                bool b => b,
                string str when bool.TryParse(str, out var b) => b,
                System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False } j => j.GetBoolean(),
                _ => throw new ArgumentException($"AdditionalProperties[\"normalize\"] = {n}: true or false", nameof(options)),
            };
        var result = await EngineEmbeddings.EmbedAsync(_runtime.Engine, inputs, new EmbeddingOptions { Dimensions = options?.Dimensions ?? 0, Normalize = normalize },
            _runtime.Engine.Options.MaxRunning, cancel: cancellationToken).ConfigureAwait(false);
        var created = DateTimeOffset.UtcNow;
        var embeddings = new GeneratedEmbeddings<Embedding<float>>(result.Vectors.Select(v => new Embedding<float>(v) { ModelId = _runtime.ModelId, CreatedAt = created }))
        {
            Usage = new UsageDetails { InputTokenCount = result.PromptTokens, TotalTokenCount = result.PromptTokens },
        };
        return embeddings;
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata)) return _metadata;
        if (serviceType == typeof(Model)) return _runtime.Model;
        if (serviceType.IsInstanceOfType(this)) return this;
        return serviceType.IsInstanceOfType(_runtime.Engine) ? _runtime.Engine : null;
    }

    /// <summary>Stops the engine and frees the model, unless the engine was the caller's.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _runtime.Dispose();
    }
}
