using System.Text;

namespace Strata.Tests.Tokenizers;

/// <summary>Random texts built from the pieces tokenizers trip over: whitespace runs, contractions, digits, scripts,
/// combining marks (in and out of canonical order), emoji sequences, control characters and special-token texts.</summary>
public static class AwkwardText
{
    private static readonly string[] Pool =
    [
        " ", " ", " ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2009", "\v", "\f", "\u0085",
        "a", "b", "Z", "e", "the", "The", "ing", "tion", "'", "'s", "'S", "'ll", "'LL", "'re", "'ve", "'d", "'m", "'t", "'x",
        "0", "1", "7", "42", "123", "99999", "٣", "½", "²", "Ⅻ",
        ".", ",", "!", "?", "-", "_", "(", ")", "[", "]", "{", "}", "<", ">", "/", "\\", "|", "$", "+", "=", "^", "~", "`", "@", "#", "%", "&", "*", "\"", ":", ";",
        "é", "e\u0301", "ñ", "n\u0303", "ß", "Ω", "\u2126", "ж", "Ж", "中", "文", "日本", "語", "한", "\u1112\u1161\u11ab", "국", "ภาษา", "العربية", "עברית", "हिन्दी",
        "\u0301", "a\u0323\u0307", "a\u0307\u0323", "\u212b", "\ufb01",
        "😀", "👍🏽", "👨‍👩‍👧", "🇺🇸", "❤️", "\u200d", "\ufe0f", "\u200b", "\u00ad", "\u0000", "\u001f", "\u007f",
        "<s>", "</s>", "<unk>", "<0x41>", "<|begin_of_text|>", "<|eot_id|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>",
        "<think>", "</think>", "<tool_call>", "<|fim_prefix|>", "<|", "|>", "▁", "▁▁", "Ġ", "Ċ",
        "<|user|>", "<|assistant|>", "\uD800", "\uDC00x",
    ];

    /// <summary>
    /// One text of 1–23 pieces. <paramref name="forNode"/> leaves out what the Node reference (transformers.js) cannot
    /// take as Hugging Face's own tokenizers do: lone surrogates and NUL (llama.cpp takes UTF-8; Node keeps them), and
    /// U+0085, which JavaScript's <c>\s</c> leaves out while the Oniguruma regexes of HF's tokenizers (and llama.cpp)
    /// count it as whitespace.
    /// </summary>
    public static string Random(Random rng, bool forNode = false)
    {
        var sb = new StringBuilder();
        int parts = rng.Next(1, 24);
        for (int j = 0; j < parts; j++)
        {
            string piece = Pool[rng.Next(Pool.Length)];
            if (forNode && piece is "\uD800" or "\uDC00x" or "\u0000" or "\u0085") { j--; continue; }
            sb.Append(piece);
        }
        return sb.ToString();
    }
}
