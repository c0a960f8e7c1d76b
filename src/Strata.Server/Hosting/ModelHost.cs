using Microsoft.Extensions.Logging;
using Strata.Chat;
using Strata.Engine;
using Strata.Engine.Serving;
using Strata.Server.Api;

namespace Strata.Server.Hosting;

/// <summary>
/// The served model and its engine. Kestrel starts first and this loads the model in the background, so /health
/// can answer 503 while it loads; every other endpoint waits for <see cref="IsReady"/>.
/// </summary>
public sealed class ModelHost : IDisposable
{
    private readonly StrataServerOptions _o;
    private readonly ILogger _log;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Model? _model;
    private InferenceEngine? _engine;
    private ChatTemplate? _template;
    private ChatFormat? _chatFormat;
    private volatile bool _isReady;

    public ModelHost(StrataServerOptions options, ILogger<ModelHost> log)
    {
        _o = options;
        _log = log;
        FileName = Path.GetFileName(options.ModelPath);
        Id = Path.GetFileNameWithoutExtension(options.ModelPath);
        Created = File.Exists(options.ModelPath) ? new DateTimeOffset(File.GetLastWriteTimeUtc(options.ModelPath)).ToUnixTimeSeconds() : 0;
    }

    /// <summary>The model's id in the API: its file name without ".gguf" (e.g. "strata-tiny").</summary>
    public string Id { get; }
    public string FileName { get; }
    public long Created { get; }
    public StrataServerOptions Options => _o;
    public bool IsReady => _isReady;
    /// <summary>Why the model could not be loaded, once that happened.</summary>
    public string? LoadError { get; private set; }
    /// <summary>Completes when the model is loaded; faults when it failed to load.</summary>
    public Task Ready => _ready.Task;

    public Model Model => _model ?? throw NotReady();
    public InferenceEngine Engine => _engine ?? throw NotReady();
    public ChatTemplate Template => _template ?? throw NotReady();
    /// <summary>The template's call syntax and thinking, for reading answers back.</summary>
    public ChatFormat ChatFormat => _chatFormat ?? throw NotReady();
    /// <summary>OpenAI's system_fingerprint: the KV cache's model fingerprint, short form.</summary>
    public string Fingerprint { get; private set; } = "";
    /// <summary>GGUF general.name, also accepted as the request's model.</summary>
    public string? GeneralName { get; private set; }

    private static ApiException NotReady() => new(503, "Loading model", "unavailable_error", code: "model_loading");

    public void BeginLoad() => _ = Task.Run(Load);

    private void Load()
    {
        try
        {
            var model = _o.Loader?.Invoke() ?? Model.Load(_o.ModelPath, new ModelOptions
            {
                Threads = _o.Threads,
                Context = _o.Context,
                MaxSequences = _o.Parallel,
                Kv = _o.Kv,
                KvType = _o.KvType,
            });
            _template = ChatPrompt.TemplateFor(model);
            _chatFormat = ChatFormat.Of(_template, model.Tokenizer.Vocabulary);
            Fingerprint = "fp_" + model.KvCache.Fingerprint.Short;
            GeneralName = model.File.Metadata.TryGetString("general.name");
            _engine = new InferenceEngine(model, new EngineOptions
            {
                MaxRunning = _o.Parallel,
                MaxWaiting = _o.Limits.MaxWaiting,
                RequestTimeout = TimeSpan.FromSeconds(Math.Max(0, _o.Limits.RequestTimeoutSeconds)),
                OnError = e => _log.LogError(e, "engine error: {Error}", e.Message),
            });
            _model = model;
            _isReady = true;
            _log.LogInformation("model {Model} loaded: context {Context} per sequence, {Parallel} in parallel, {Blocks} KV blocks",
                FileName, model.Context, _o.Parallel, model.KvPool.Capacity);
            foreach (var level in model.KvCache.LowerTiers) _log.LogInformation("KV tier {Tier}", level.Tier.Describe());
            _ready.TrySetResult();
        }
        catch (Exception e)
        {
            LoadError = e is StrataException or IOException or UnauthorizedAccessException ? e.Message : $"{e.GetType().Name}: {e.Message}";
            _log.LogError("model {Model} failed to load: {Error}", FileName, LoadError);
            _ready.TrySetException(e);
        }
    }

    /// <summary>
    /// Whether a request's <c>model</c> names this model. Absent, the id, the file name or GGUF general.name are
    /// accepted (clients must send something, and some send the file name); any other name is a 404, so that a
    /// client pointed at the wrong server finds out instead of silently getting another model's answers.
    /// </summary>
    public void CheckModel(string? requested)
    {
        if (string.IsNullOrEmpty(requested)) return;
        if (string.Equals(requested, Id, StringComparison.OrdinalIgnoreCase) || string.Equals(requested, FileName, StringComparison.OrdinalIgnoreCase)
            || (GeneralName is { Length: > 0 } g && string.Equals(requested, g, StringComparison.OrdinalIgnoreCase)))
            return;
        throw new ApiException(404, $"The model '{requested}' does not exist or you do not have access to it. This server serves '{Id}'.",
            "invalid_request_error", "model", "model_not_found");
    }

    /// <summary>Flushes the KV tiers' pending writes and frees the model (after the server stopped).</summary>
    public void Dispose()
    {
        _isReady = false;
        _engine?.Dispose();
        if (_model is { } m)
        {
            if (!m.KvCache.Flush(TimeSpan.FromSeconds(10))) _log.LogWarning("KV tiers still had writes pending after 10 s");
            m.Dispose();
        }
        _model = null;
        _engine = null;
    }
}
