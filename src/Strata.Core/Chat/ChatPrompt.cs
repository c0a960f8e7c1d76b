using Strata.Chat.Tools;
using Strata.Engine;

namespace Strata.Chat;

/// <summary>
/// Turns a conversation into prompt tokens the way every front end (the CLI's chat, the server) must: the model's
/// own chat template, ChatML when it has none (as llama.cpp does), the model's BOS/EOS texts, and no second BOS when
/// the template already writes one.
/// </summary>
public static class ChatPrompt
{
    /// <summary>The template used when a model carries none.</summary>
    public const string ChatMl =
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    /// <summary>The model's chat template, or ChatML.</summary>
    public static ChatTemplate TemplateFor(Model model, ChatTemplateOptions? options = null) =>
        ChatTemplate.FromGguf(model.File.Metadata, options) ?? ChatTemplate.Parse(ChatMl, options);

    /// <summary>The rendered conversation (with the assistant's turn opened) as tokens.</summary>
    public static int[] Tokens(Model model, ChatTemplate template, IReadOnlyList<ChatMessage> messages) =>
        Render(model, template, messages, null).Tokens;

    /// <summary>
    /// The rendered conversation and its tokens, with tools and template variables as Hugging Face's
    /// apply_chat_template passes them (<c>tools</c> as a list of <c>{"type": "function", "function": {...}}</c>, the
    /// variables alongside). A template that does not render tools gets them described in the system turn instead.
    /// </summary>
    public static (int[] Tokens, string Text) Render(Model model, ChatTemplate template, IReadOnlyList<ChatMessage> messages, ChatRenderOptions? options)
    {
        var vocab = model.Tokenizer.Vocabulary;
        string? bos = vocab.Bos >= 0 ? vocab.TokenText(vocab.Bos) : null;
        string? eos = vocab.Eos >= 0 ? vocab.TokenText(vocab.Eos) : null;
        Dictionary<string, object?>? extra = null;
        if (options is not null)
        {
            extra = new Dictionary<string, object?>();
            if (options.Variables is { } vars)
                foreach (var (k, v) in vars) extra[k] = v;
            if (options.Tools is { Count: > 0 } tools)
            {
                if (ToolCallFormats.TemplateKnowsTools(template.Source)) extra["tools"] = tools.Select(t => (object?)t.ToTemplateValue()).ToList();
                else messages = ToolPrompt.AddToSystem(messages, ToolPrompt.DescribeGeneric(tools));
            }
            if (options.Instruction is { Length: > 0 } instruction) messages = ToolPrompt.AddToSystem(messages, instruction);
        }
        string text = template.Render(messages, addGenerationPrompt: true, bos, eos, extra);
        // Templates that write the BOS text themselves must not get a second BOS from the tokenizer.
        bool addSpecial = bos is null || !text.StartsWith(bos, StringComparison.Ordinal);
        return (model.Tokenizer.Encode(text, addSpecial, parseSpecial: true), text);
    }
}

/// <summary>What a chat request adds to its messages when the template renders them.</summary>
public sealed record ChatRenderOptions
{
    /// <summary>The functions offered (none: the template sees no <c>tools</c>).</summary>
    public IReadOnlyList<ToolDefinition>? Tools { get; init; }
    /// <summary>Template variables (the request's <c>chat_template_kwargs</c>, e.g. <c>enable_thinking</c>).</summary>
    public IReadOnlyDictionary<string, object?>? Variables { get; init; }
    /// <summary>Text appended to the system turn (the instruction that a call is required).</summary>
    public string? Instruction { get; init; }
}
