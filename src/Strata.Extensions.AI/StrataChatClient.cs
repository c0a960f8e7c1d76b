using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Strata.Chat.Output;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;
using ChatPlanException = Strata.Chat.ChatPlanException;
using ChatTemplateException = Strata.Chat.ChatTemplateException;
using ChatTurnPlan = Strata.Chat.ChatTurnPlan;
using Strata.Engine;
using Strata.Engine.Serving;
using StrataMessage = Strata.Chat.ChatMessage;

namespace Strata.Extensions.AI;

/// <summary>
/// Strata in-process as an <see cref="IChatClient"/>: a GGUF model on the same engine and scheduler as
/// <c>strata serve</c>, with no server and no native library. Safe for concurrent calls, which are batched together
/// (up to <see cref="StrataOptions.Parallel"/> sequences per forward pass, the rest queued fairly). The model's own chat
/// template renders the messages. <see cref="ChatOptions"/> is honoured where the engine can: temperature, top-p,
/// top-k, max output tokens, seed, stop sequences, penalties, instructions, tools and tool mode (calls come back as
/// <see cref="FunctionCallContent"/>; a required call is enforced by a grammar), response formats (JSON, JSON schema:
/// constrained decoding), conversation ids (see
/// <see cref="ChatOptions.ConversationId"/>: only a turn's new messages need sending, the earlier turns' KV is
/// reused) and Strata's own knobs in <see cref="ChatOptions.AdditionalProperties"/> (<c>min_p</c>,
/// <c>repeat_penalty</c>, <c>repeat_last_n</c>, <c>grammar</c>, <c>priority</c>, <c>user</c>).
/// </summary>
public sealed class StrataChatClient : IChatClient
{
    private readonly StrataRuntime _runtime;
    private readonly ConversationStore _conversations;
    private readonly ChatClientMetadata _metadata;
    private bool _disposed;

    /// <summary>The default model (from the <c>Strata.Models.Default</c> package, or <c>STRATA_DEFAULT_MODEL</c>).</summary>
    public StrataChatClient() : this(new StrataOptions()) { }

    /// <summary>A GGUF model file with default options.</summary>
    public StrataChatClient(string modelPath) : this(new StrataOptions { ModelPath = modelPath }) { }

    /// <summary>Loads the model as <paramref name="options"/> say; load and KV-tier messages go to <paramref name="logger"/>.</summary>
    /// <exception cref="StrataException">The model is missing, unreadable or malformed, or an option is out of range.</exception>
    public StrataChatClient(StrataOptions options, ILogger? logger = null)
        : this(new StrataRuntime(options ?? throw new ArgumentNullException(nameof(options)), logger)) { }

    /// <summary>On an engine the caller made and keeps (shared with other clients; not disposed with this one).</summary>
    public StrataChatClient(InferenceEngine engine, ILogger? logger = null)
        : this(new StrataRuntime(engine ?? throw new ArgumentNullException(nameof(engine)), logger)) { }

    private StrataChatClient(StrataRuntime runtime)
    {
        _runtime = runtime;
        _conversations = new ConversationStore(runtime.KvDirectory, runtime.Log);
        _metadata = new ChatClientMetadata("strata", null, runtime.ModelId);
    }

    /// <summary>The loaded model.</summary>
    public Model Model => _runtime.Model;

    /// <summary>The serving engine the calls run on (its load, batch sizes and preemptions).</summary>
    public InferenceEngine Engine => _runtime.Engine;

    /// <inheritdoc />
    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken);

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var turn = Prepare(messages, options);
        IAsyncEnumerable<InferenceEvent> events;
        try
        {
            events = _runtime.Engine.RunAsync(turn.Request, cancellationToken);
        }
        catch (StrataException e) when (e is not EngineBusyException)
        {
            throw new ArgumentException(e.Message, nameof(messages), e);
        }

        string responseId = "strata-" + RandomNumberGenerator.GetHexString(24, lowercase: true);
        var created = DateTimeOffset.UtcNow;
        ChatResponseUpdate Update(IList<AIContent> contents, ChatFinishReason? finish = null) => new(ChatRole.Assistant, contents)
        {
            ResponseId = responseId,
            MessageId = responseId,
            ConversationId = turn.ConversationId,
            ModelId = _runtime.ModelId,
            CreatedAt = created,
            FinishReason = finish,
        };

        var parser = turn.Plan.NewParser();
        var answer = new ChatOutput();
        StopReason? reason = null;
        UsageEvent? usage = null;
        int reasoningTokens = 0;
        await foreach (var e in events.ConfigureAwait(false))
        {
            // Once cancelled, nothing more is handed out; the events are drained until the engine has let go.
            if (cancellationToken.IsCancellationRequested) continue;
            IReadOnlyList<ChatOutputEvent> pieces;
            switch (e)
            {
                case TokenEvent t:
                    bool before = parser.InReasoning;
                    pieces = parser.Push(t.Text);
                    if (before || parser.InReasoning) reasoningTokens++;
                    break;
                case FinishEvent f:
                    reason = f.Reason;
                    var last = new List<ChatOutputEvent>(parser.Push(f.Text));
                    last.AddRange(parser.Finish());
                    pieces = last;
                    break;
                case UsageEvent u:
                    usage = u;
                    continue;
                case ErrorEvent error:
                    throw new StrataException($"the engine failed the request: {error.Message}");
                default:
                    continue;
            }
            answer.Add(pieces);
            if (Contents(pieces) is { Count: > 0 } contents) yield return Update(contents);
        }
        // The engine has freed the sequence by now: a cancelled call leaves nothing running behind it.
        cancellationToken.ThrowIfCancellationRequested();
        if (reason is null or StopReason.Cancelled) throw new ObjectDisposedException(nameof(InferenceEngine), "the engine stopped before the answer was complete");

        if (turn.ConversationId is { } id)
            _conversations.Set(id, [.. turn.Messages, new StrataMessage("assistant", answer.Content)
            {
                ToolCalls = answer.Calls.Count > 0 ? answer.Calls.ToList() : null,
                ReasoningContent = answer.Reasoning,
            }]);
        var finish = answer.Calls.Count > 0 ? ChatFinishReason.ToolCalls
            : reason is StopReason.EndOfGeneration or StopReason.StopString ? ChatFinishReason.Stop : ChatFinishReason.Length;
        yield return Update([new UsageContent(Usage(usage!, reasoningTokens))], finish);
    }

    /// <summary>The parser's pieces as Microsoft.Extensions.AI content: text, reasoning, function calls.</summary>
    private static List<AIContent> Contents(IReadOnlyList<ChatOutputEvent> pieces)
    {
        var contents = new List<AIContent>(pieces.Count);
        foreach (var p in pieces)
        {
            switch (p)
            {
                case ContentDelta { Text.Length: > 0 } c: contents.Add(new TextContent(c.Text)); break;
                case ReasoningDelta { Text.Length: > 0 } r: contents.Add(new TextReasoningContent(r.Text)); break;
                case ToolCallDelta call: contents.Add(ChatMessageMapping.ToContent(call.Call)); break;
            }
        }
        return contents;
    }

    private static UsageDetails Usage(UsageEvent u, int reasoningTokens) => new()
    {
        ReasoningTokenCount = reasoningTokens,
        InputTokenCount = u.PromptTokens,
        OutputTokenCount = u.CompletionTokens,
        TotalTokenCount = u.PromptTokens + u.CompletionTokens,
        CachedInputTokenCount = u.CachedTokens,
        // Where the reused prompt blocks were found: "cached_blocks_dram", "cached_blocks_far", "cached_blocks_ssd".
        AdditionalCounts = u.CacheHitsByTier.Count == 0 ? null
            : new AdditionalPropertiesDictionary<long>(u.CacheHitsByTier.ToDictionary(t => "cached_blocks_" + t.Key, t => (long)t.Value)),
    };

    private sealed record Turn(InferenceRequest Request, ChatTurnPlan Plan, List<StrataMessage> Messages, string? ConversationId);

    /// <summary>The conversation (stored turns, then the new messages) with its tools, rendered by the model's template
    /// (<see cref="ChatTurnPlan"/>, as the HTTP server prepares its turns), checked against the context, with the options
    /// in the engine's terms.</summary>
    private Turn Prepare(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        if (options?.ModelId is { Length: > 0 } modelId && !_runtime.IsThisModel(modelId))
            throw new ArgumentException($"ChatOptions.ModelId '{modelId}' is not this client's model ('{_runtime.ModelId}')", nameof(options));
        var generation = ChatOptionsMapping.Generation(options, _runtime.Model);
        string? conversationId = string.IsNullOrEmpty(options?.ConversationId) ? null : options.ConversationId;
        StrataMessage[] history = conversationId is null ? [] : _conversations.Get(conversationId);
        var all = new List<StrataMessage>(history);
        all.AddRange(ChatMessageMapping.ToStrata(messages, history));
        if (all.Count == 0) throw new ArgumentException("there are no messages to answer", nameof(messages));
        var conversation = ChatOptionsMapping.Conversation(ChatMessageMapping.WithInstructions(all, options?.Instructions), options);

        ChatTurnPlan plan;
        try
        {
            plan = ChatTurnPlan.Prepare(_runtime.Model, _runtime.Template, _runtime.Format, conversation, generation);
        }
        catch (ChatTemplateException e)
        {
            throw new ArgumentException($"the model's chat template could not render these messages: {e.Message}", nameof(messages), e);
        }
        catch (ChatPlanException e)
        {
            throw new ArgumentException($"ChatOptions: {e.Message}", nameof(options), e);
        }
        if (plan.Prompt.Length >= _runtime.Model.Context)
            throw new ArgumentException($"the conversation is {plan.Prompt.Length} tokens; the model's context holds {_runtime.Model.Context}", nameof(messages));
        var request = new InferenceRequest
        {
            Prompt = plan.Prompt,
            Generation = plan.Generation,
            User = ChatOptionsMapping.UserOf(options),
            Priority = ChatOptionsMapping.PriorityOf(options),
        };
        return new Turn(request, plan, all, conversationId);
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType == typeof(Model)) return _runtime.Model;
        if (serviceType.IsInstanceOfType(this)) return this;
        return serviceType.IsInstanceOfType(_runtime.Engine) ? _runtime.Engine : null;
    }

    /// <summary>Stops the engine (what is running is cancelled), flushes the KV tiers and frees the model, unless the
    /// engine was the caller's.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _runtime.Dispose();
    }
}
