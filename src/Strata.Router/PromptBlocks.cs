using System.Text.Json;
using Strata.Chat;
using Strata.Kv;
using Strata.Tokenizers;

namespace Strata.Router;

/// <summary>
/// The leading block hashes of a request's prompt, as the router sees it: the conversation rendered with the model's
/// chat template and tokenized with its tokenizer (or the completion prompt's text or token ids), cut into blocks of
/// <see cref="BlockTokens"/> and chain-hashed like the KV cache names its blocks. Two requests share block i only when
/// they agree on every token up to its end, so a match is a prefix the backend has computed. Only the first
/// <see cref="MaxBlocks"/> blocks are hashed: affinity needs the start of a prompt, and the router's work stays bounded.
/// </summary>
public sealed class PromptBlocks
{
    public const int BlockTokens = KvLayout.DefaultBlockTokens;
    public const int MaxBlocks = 256;
    // Past this much text only the first blocks are needed; a cut may change the last tokens, so its last block is dropped.
    private const int MaxChars = MaxBlocks * BlockTokens * 8;
    private static readonly BlockHash Root = BlockHash.Digest("strata-router/1"u8);

    private readonly Tokenizer _tokenizer;
    private readonly ChatTemplate _template;

    public PromptBlocks(Tokenizer tokenizer, ChatTemplate template)
    {
        _tokenizer = tokenizer;
        _template = template;
    }

    /// <summary>The hashes of the leading full blocks of the prompt in <paramref name="body"/>; empty when it has none the router can read.</summary>
    public BlockHash[] Of(string path, ReadOnlySpan<byte> body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = 64 });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return [];
            var (tokens, cut) = path.EndsWith("/chat/completions", StringComparison.Ordinal) ? Chat(root) : Completion(root);
            return Hash(tokens, cut);
        }
        catch (Exception e) when (e is JsonException or ChatTemplateException or InvalidOperationException or FormatException)
        {
            // Not readable here: the backend gives the client its proper error; routing falls back to load.
            return [];
        }
    }

    private (int[] Tokens, bool Cut) Chat(JsonElement root)
    {
        if (!root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array) return ([], false);
        var list = new List<ChatMessage>();
        foreach (var m in messages.EnumerateArray())
        {
            if (m.ValueKind != JsonValueKind.Object || !m.TryGetProperty("role", out var r) || r.ValueKind != JsonValueKind.String) return ([], false);
            string role = r.GetString()!;
            list.Add(new ChatMessage(role == "developer" ? "system" : role, Content(m)));
        }
        if (list.Count == 0) return ([], false);
        var vocab = _tokenizer.Vocabulary;
        string? bos = vocab.Bos >= 0 ? vocab.TokenText(vocab.Bos) : null;
        string? eos = vocab.Eos >= 0 ? vocab.TokenText(vocab.Eos) : null;
        // Rendered as the server renders it (ChatPrompt), then only the start tokenized.
        string text = _template.Render(list, addGenerationPrompt: true, bos, eos);
        bool addSpecial = bos is null || !text.StartsWith(bos, StringComparison.Ordinal);
        return Encode(text, addSpecial);
    }

    /// <summary>A message's text: a string, or its text parts joined (as the server reads them).</summary>
    private static string Content(JsonElement m)
    {
        if (!m.TryGetProperty("content", out var c)) return "";
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
        if (c.ValueKind != JsonValueKind.Array) return "";
        var text = new System.Text.StringBuilder();
        foreach (var part in c.EnumerateArray())
            if (part.ValueKind == JsonValueKind.Object && part.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String)
                text.Append(t.GetString());
        return text.ToString();
    }

    private (int[] Tokens, bool Cut) Completion(JsonElement root)
    {
        if (!root.TryGetProperty("prompt", out var p)) return ([], false);
        // A list of prompts is routed by its first.
        if (p.ValueKind == JsonValueKind.Array && p.GetArrayLength() > 0 && p[0].ValueKind is JsonValueKind.String or JsonValueKind.Array) p = p[0];
        if (p.ValueKind == JsonValueKind.String) return Encode(p.GetString()!, addSpecial: true);
        if (p.ValueKind != JsonValueKind.Array) return ([], false);
        int n = Math.Min(p.GetArrayLength(), MaxBlocks * BlockTokens);
        var tokens = new int[n];
        for (int i = 0; i < n; i++)
            if (!p[i].TryGetInt32(out tokens[i])) return ([], false);
        return (tokens, false);
    }

    private (int[] Tokens, bool Cut) Encode(string text, bool addSpecial)
    {
        bool cut = text.Length > MaxChars;
        return (_tokenizer.Encode(cut ? text[..MaxChars] : text, addSpecial, parseSpecial: true), cut);
    }

    /// <summary>The chain of block hashes of <paramref name="tokens"/> (full blocks only, at most <see cref="MaxBlocks"/>).</summary>
    public static BlockHash[] Hash(ReadOnlySpan<int> tokens, bool cut = false)
    {
        int blocks = Math.Min(MaxBlocks, tokens.Length / BlockTokens - (cut ? 1 : 0));
        if (blocks <= 0) return [];
        var hashes = new BlockHash[blocks];
        var parent = Root;
        for (int b = 0; b < blocks; b++) hashes[b] = parent = BlockHash.Chain(parent, tokens.Slice(b * BlockTokens, BlockTokens));
        return hashes;
    }
}
