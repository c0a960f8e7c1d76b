using Strata.Chat.Output;
using Strata.Chat.Tools;
using Strata.Tokenizers;

namespace Strata.Chat;

/// <summary>
/// What a model's chat template implies for its output: the family's function-call syntax and whether it thinks in
/// <c>&lt;think&gt;</c> tags. Known once per model, from the template and the vocabulary.
/// </summary>
public sealed class ChatFormat
{
    private readonly Vocabulary _vocab;

    private ChatFormat(ToolCallFormat tools, bool thinking, Vocabulary vocab)
    {
        Tools = tools;
        Thinking = thinking;
        _vocab = vocab;
    }

    public ToolCallFormat Tools { get; }
    /// <summary>The template writes think tags (Qwen3): reasoning is split from the answer.</summary>
    public bool Thinking { get; }

    public static ChatFormat Of(ChatTemplate template, Vocabulary vocab)
    {
        bool thinking = template.Source.Contains(ReasoningSplitter.Open, StringComparison.Ordinal);
        return new ChatFormat(ToolCallFormats.Detect(template.Source, vocab), thinking, vocab);
    }

    /// <summary>
    /// How to read an answer to this prompt. <paramref name="allowed"/> null: calls are not parsed (no tools offered,
    /// or tool_choice "none").
    /// </summary>
    public ChatOutputOptions Output(string renderedPrompt, IReadOnlySet<string>? allowed, bool parallelCalls, Func<string>? newCallId = null) => new()
    {
        Tools = allowed is null ? null : Tools,
        AllowedNames = allowed,
        ParallelCalls = parallelCalls,
        Reasoning = Thinking,
        // Templates that open the think block in the generation prompt: the output starts inside it.
        StartsInReasoning = Thinking && renderedPrompt.TrimEnd().EndsWith(ReasoningSplitter.Open, StringComparison.Ordinal),
        NewCallId = newCallId ?? (Tools == ToolCallFormat.Mistral ? MistralCallId : ChatToolCall.NewId),
    };

    /// <summary>The control tokens among the format's markers, which the engine must keep in the text for the parser.</summary>
    public IReadOnlySet<int>? ShownControlTokens(bool tools)
    {
        var texts = new List<string>();
        if (tools) texts.AddRange(ToolCallFormats.SpecialTexts(Tools));
        if (Thinking) texts.AddRange([ReasoningSplitter.Open, ReasoningSplitter.Close]);
        var ids = new HashSet<int>();
        foreach (var t in texts)
            if (_vocab.Find(t) is var id && id >= 0 && _vocab.IsControl(id)) ids.Add(id);
        return ids.Count > 0 ? ids : null;
    }

    /// <summary>Mistral's templates insist on call ids of 9 letters and digits.</summary>
    public static string MistralCallId() =>
        System.Security.Cryptography.RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 9);

    /// <summary>
    /// An id a Mistral template accepts, for a call id a client sent (OpenAI's "call_..."): ids that already are 9
    /// letters and digits stay; others map to 9 characters derived from them, the same for the call and its result.
    /// </summary>
    public string TemplateCallId(string id)
    {
        if (Tools != ToolCallFormat.Mistral || (id.Length == 9 && id.All(char.IsAsciiLetterOrDigit))) return id;
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(id));
        return new string(hash.Take(9).Select(b => alphabet[b % alphabet.Length]).ToArray());
    }
}
