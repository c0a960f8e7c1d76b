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
    public static ChatTemplate TemplateFor(Model model, ChatTemplateOptions? options = null) => TemplateFor(model.File.Metadata, options);

    /// <summary>The chat template in a GGUF file's metadata, or ChatML (no weights needed: the router uses this).</summary>
    public static ChatTemplate TemplateFor(Gguf.GgufMetadata metadata, ChatTemplateOptions? options = null) =>
        ChatTemplate.FromGguf(metadata, options) ?? ChatTemplate.Parse(ChatMl, options);

    /// <summary>The rendered conversation (with the assistant's turn opened) as tokens.</summary>
    public static int[] Tokens(Model model, ChatTemplate template, IReadOnlyList<ChatMessage> messages) =>
        Tokens(model.Tokenizer, template, messages);

    /// <summary>The same with a tokenizer alone.</summary>
    public static int[] Tokens(Tokenizers.Tokenizer tokenizer, ChatTemplate template, IReadOnlyList<ChatMessage> messages)
    {
        var vocab = tokenizer.Vocabulary;
        string? bos = vocab.Bos >= 0 ? vocab.TokenText(vocab.Bos) : null;
        string? eos = vocab.Eos >= 0 ? vocab.TokenText(vocab.Eos) : null;
        string text = template.Render(messages, addGenerationPrompt: true, bos, eos);
        // Templates that write the BOS text themselves must not get a second BOS from the tokenizer.
        bool addSpecial = bos is null || !text.StartsWith(bos, StringComparison.Ordinal);
        return tokenizer.Encode(text, addSpecial, parseSpecial: true);
    }
}
