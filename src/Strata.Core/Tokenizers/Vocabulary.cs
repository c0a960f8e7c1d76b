using System.Text;
using Strata.Gguf;

namespace Strata.Tokenizers;

/// <summary>
/// A tokenizer vocabulary read from GGUF metadata (<c>tokenizer.ggml.*</c>), with the defaults and fix-ups llama.cpp
/// applies when it loads one (special-token defaults per model, EOG detection by token text, attribute overrides).
/// </summary>
public sealed class Vocabulary
{
    /// <summary>The id used for "no such token".</summary>
    public const int None = -1;

    private readonly string[] _text;
    private readonly float[] _scores;
    private readonly TokenAttributes[] _attrs;
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _idLookup;

    public VocabularyKind Kind { get; }
    /// <summary>The <c>tokenizer.ggml.model</c> value.</summary>
    public string Model { get; }
    /// <summary>The <c>tokenizer.ggml.pre</c> value, or null when absent.</summary>
    public string? Pre { get; }
    public PreTokenizerKind PreTokenizer { get; }

    public int Count => _text.Length;

    public int Bos { get; }
    public int Eos { get; }
    public int Eot { get; }
    public int Eom { get; }
    public int Unknown { get; }
    public int Padding { get; }
    public int Separator { get; }
    /// <summary>The newline token (SPM: the byte token for '\n'; BPE: the first token of "\n").</summary>
    public int Newline { get; }

    public bool AddBos { get; }
    public bool AddEos { get; }
    public bool AddSpacePrefix { get; }
    /// <summary>BPE: a pre-tokenized word that is itself a token is emitted without merging (Llama 3).</summary>
    public bool IgnoreMerges { get; }
    /// <summary>llama.cpp's clean_up_tokenization_spaces, used by <see cref="Tokenizer.Detokenize"/>.</summary>
    public bool CleanSpaces { get; }

    /// <summary>
    /// Text is put in Unicode normalization form C before tokenizing (<c>tokenizer.ggml.normalizer.nfc</c>, written by
    /// <c>strata convert</c> when the Hugging Face tokenizer normalizes so, e.g. Qwen). llama.cpp ignores the key.
    /// </summary>
    public bool NormalizeNfc { get; }
    /// <summary>
    /// The file's token types are the source tokenizer's own (<c>strata.tokenizer.exact_token_types</c>, written by
    /// <c>strata convert</c>): a token typed normal stays normal even when its text is one llama.cpp treats as special
    /// (Qwen's ordinary "&lt;/s&gt;" piece). Without the key Strata infers control tokens from their text as llama.cpp does.
    /// </summary>
    public bool ExactTokenTypes { get; }

    /// <summary>Tokens that end generation (EOS, EOT, EOM and the end-of-turn tokens llama.cpp recognises by text).</summary>
    public IReadOnlySet<int> EndOfGeneration { get; }
    private readonly int[] _endOfGenerationIds; // the same ids as an array: banning them allocates no enumerator

    /// <summary>Control, user-defined and unknown tokens, longest text (UTF-8 bytes) first: split out before tokenizing.</summary>
    internal int[] SpecialTokens { get; }

    /// <summary>BPE merges: "left right" → rank.</summary>
    internal Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> MergeRanks { get; }
    internal int MergeCount { get; }

    public string TokenText(int id) => _text[CheckId(id)];
    public float Score(int id) => _scores[CheckId(id)];
    public TokenAttributes Attributes(int id) => _attrs[CheckId(id)];

    public bool IsControl(int id) => (Attributes(id) & TokenAttributes.Control) != 0;
    public bool IsEndOfGeneration(int id) => EndOfGeneration.Contains(id);

    /// <summary>
    /// Sets the logit of every end-of-generation token to −∞, so that none is sampled (llama.cpp's and vLLM's
    /// <c>ignore_eos</c>: benchmarks and tests that need a fixed number of tokens). No allocation.
    /// </summary>
    public void BanEndOfGeneration(Span<float> logits)
    {
        foreach (int id in _endOfGenerationIds)
            if ((uint)id < (uint)logits.Length) logits[id] = float.NegativeInfinity;
    }


    /// <summary>The id of the token whose text is exactly <paramref name="text"/>, or <see cref="None"/>.</summary>
    public int Find(ReadOnlySpan<char> text) => _idLookup.TryGetValue(text, out int id) ? id : None;

    private int CheckId(int id) =>
        (uint)id < (uint)_text.Length ? id : throw new TokenizerException($"token id {id} is out of range (vocabulary has {_text.Length} tokens)");

    private const string K = "tokenizer.ggml.";

    /// <summary>Builds the vocabulary from GGUF metadata. Throws <see cref="TokenizerException"/> on bad or unsupported data.</summary>
    public static Vocabulary FromGguf(GgufMetadata md)
    {
        try
        {
            return new Vocabulary(md);
        }
        catch (GgufFormatException e)
        {
            // GGUF errors already name the file.
            throw new TokenizerException($"bad tokenizer metadata: {e.Message}");
        }
        catch (TokenizerException e)
        {
            throw new TokenizerException($"{md.Source}: {e.Message}");
        }
    }

    private Vocabulary(GgufMetadata md)
    {
        string model = md.TryGetString(K + "model") ?? throw new TokenizerException($"GGUF file has no '{K}model' key (no vocabulary)");
        Model = model;
        Pre = md.TryGetString(K + "pre");

        int bos, eos, unk, sep = None, pad = None, eot = None, eom = None;
        bool addBos = false, addEos = false, addSpacePrefix = false, ignoreMerges = false, cleanSpaces = false;
        var pre = PreTokenizerKind.Default;

        string[]? merges = null;
        switch (model)
        {
            case "llama":
                Kind = VocabularyKind.SentencePiece;
                bos = 1; eos = 2; unk = 0;
                addSpacePrefix = true;
                addBos = true;
                break;
            case "gpt2":
                Kind = VocabularyKind.BytePairEncoding;
                merges = md.TryGetStringArray(K + "merges") ?? throw new TokenizerException($"BPE vocabulary has no '{K}merges'");
                bos = 11; eos = 11; unk = None;
                cleanSpaces = true;
                (pre, ignoreMerges, addBos, cleanSpaces, bool noBos) = ResolvePre(Pre, addBos, cleanSpaces);
                if (noBos) bos = None;
                break;
            case "bert" or "t5" or "rwkv" or "plamo2" or "gemma4" or "hybriddna" or "whitespace" or "no_vocab" or "none":
                throw new TokenizerException($"tokenizer model '{model}' is not supported by Strata (supported: llama, gpt2)");
            default:
                throw new TokenizerException($"unknown tokenizer model '{model}'");
        }
        PreTokenizer = pre;
        addSpacePrefix = md.TryGetBool(K + "add_space_prefix") ?? addSpacePrefix;

        string[] tokens = md.TryGetStringArray(K + "tokens") ?? throw new TokenizerException($"GGUF file has no '{K}tokens'");
        int n = tokens.Length;
        float[]? scores = md.TryGetArray(K + "scores") switch
        {
            null => null,
            { Items: int[] ia } => Array.ConvertAll(ia, x => (float)x),
            _ => md.TryGetFloat32Array(K + "scores"),
        };
        int[]? types = md.TryGetInt32Array(K + "token_type");
        if (scores is not null && scores.Length != n)
            throw new TokenizerException($"'{K}scores' has {scores.Length} entries but '{K}tokens' has {n}");
        if (types is not null && types.Length != n)
            throw new TokenizerException($"'{K}token_type' has {types.Length} entries but '{K}tokens' has {n}");

        _text = new string[n];
        _scores = new float[n];
        _attrs = new TokenAttributes[n];
        _ids = new Dictionary<string, int>(n, StringComparer.Ordinal);
        for (int i = 0; i < n; i++)
        {
            string word = tokens[i].Length == 0 ? $"[EMPTY_{i}]" : tokens[i];
            if (!_ids.TryAdd(word, i))
                throw new TokenizerException($"duplicate token in vocabulary: '{word}' has ids {_ids[word]} and {i}");
            _text[i] = word;
            _scores[i] = scores?[i] ?? 0f;
            _attrs[i] = types is null ? TokenAttributes.Normal : (TokenType)types[i] switch
            {
                TokenType.Unknown => TokenAttributes.Unknown,
                TokenType.Unused => TokenAttributes.Unused,
                TokenType.Normal => TokenAttributes.Normal,
                TokenType.Control => TokenAttributes.Control,
                TokenType.UserDefined => TokenAttributes.UserDefined,
                TokenType.Byte => TokenAttributes.Byte,
                _ => TokenAttributes.Undefined,
            };
        }
        _idLookup = _ids.GetAlternateLookup<ReadOnlySpan<char>>();

        var ranks = new Dictionary<string, int>(merges?.Length ?? 0, StringComparer.Ordinal);
        if (merges is not null)
        {
            for (int i = 0; i < merges.Length; i++)
            {
                // llama.cpp splits at the first space after the first character; a line without one maps the empty pair.
                string m = merges[i];
                int sp = m.Length > 1 ? m.IndexOf(' ', 1) : -1;
                ranks.TryAdd(sp < 0 ? " " : m, i);
            }
        }
        MergeRanks = ranks.GetAlternateLookup<ReadOnlySpan<char>>();
        MergeCount = ranks.Count;

        // Special token ids: defaults out of range are disabled; a key out of range is ignored (default kept).
        int Special(string key, int dflt)
        {
            if (dflt >= n) dflt = None;
            uint? v = md.TryGetUInt32(K + key);
            return v is uint u && u < (uint)n ? (int)u : dflt;
        }
        bos = Special("bos_token_id", bos);
        eos = Special("eos_token_id", eos);
        eot = Special("eot_token_id", eot);
        eom = Special("eom_token_id", eom);
        unk = Special("unknown_token_id", unk);
        sep = Special("seperator_token_id", sep);
        pad = Special("padding_token_id", pad);
        int fimPad = Special("fim_pad_token_id", None), fimRep = Special("fim_rep_token_id", None), fimSep = Special("fim_sep_token_id", None);

        addBos = md.TryGetBool(K + "add_bos_token") ?? addBos;
        addEos = md.TryGetBool(K + "add_eos_token") ?? addEos;
        if (addBos && bos == None) throw new TokenizerException($"{K}add_bos_token is true, but {K}bos_token_id is not set");
        if (addEos && eos == None) throw new TokenizerException($"{K}add_eos_token is true, but {K}eos_token_id is not set");

        NormalizeNfc = md.TryGetBool(K + "normalizer.nfc") ?? false;
        ExactTokenTypes = md.TryGetBool("strata.tokenizer.exact_token_types") ?? false;

        // llama.cpp's detection of special tokens by their text; a matching token is forced to control type. With
        // exact types, only tokens already typed special take part (the file may still name one by id, as a FIM key).
        bool exact = ExactTokenTypes;
        bool TypedSpecial(string text, out int id) =>
            _ids.TryGetValue(text, out id) && (!exact || (_attrs[id] & (TokenAttributes.Control | TokenAttributes.UserDefined)) != 0);
        void ForceControl(int id) => _attrs[id] |= TokenAttributes.Control;
        if (eot == None)
        {
            foreach (var t in new[] { "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
                                       "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>" })
                if (TypedSpecial(t, out int id)) { eot = id; ForceControl(id); break; }
        }
        if (eom == None && TypedSpecial("<|eom_id|>", out int eomId)) { eom = eomId; ForceControl(eomId); }
        if (fimPad == None) fimPad = FindAny("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]");
        if (fimRep == None) fimRep = FindAny("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>");
        if (fimSep == None) fimSep = FindAny("<|file_sep|>");
        foreach (var t in new[] { "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>",
                                  "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>",
                                  "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>" })
            if (TypedSpecial(t, out int id)) ForceControl(id);
        foreach (int id in new[] { fimPad, fimRep, fimSep }) if (id != None) ForceControl(id);

        // Control tokens whose text says "unused" are unused.
        for (int i = 0; i < n; i++)
            if ((_attrs[i] & TokenAttributes.Control) != 0 && _text[i].Contains("unused", StringComparison.Ordinal))
                _attrs[i] |= TokenAttributes.Unused;

        var eog = new HashSet<int>();
        foreach (int id in new[] { fimPad, fimRep, fimSep }) if (id != None) eog.Add(id);
        foreach (var t in new[] { "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
                                  "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
                                  "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[" })
            if (TypedSpecial(t, out int id)) { eog.Add(id); ForceControl(id); }
        foreach (var t in new[] { "<|channel|>", "<|message|>", "<|start|>", "<|constrain|>" })
            if (!exact && _ids.TryGetValue(t, out int id)) _attrs[id] = TokenAttributes.UserDefined;
        if (eos != None) eog.Add(eos);
        if (eot != None) eog.Add(eot);
        if (eom != None) eog.Add(eom);
        bool Has(string t) => _ids.TryGetValue(t, out int id) && eog.Contains(id);
        if (Has("<|end|>") && ((Has("<|return|>") && Has("<|call|>")) || (Has("<|calls|>") && Has("<|flush|>"))))
        {
            int endId = _ids["<|end|>"];
            eog.Remove(endId);
            _attrs[endId] = TokenAttributes.UserDefined;
        }
        if (Has("<|tool_response>") && Has("</s>"))
        {
            int sId = _ids["</s>"];
            eog.Remove(sId);
            _attrs[sId] = TokenAttributes.Normal;
        }

        // Per-model strip attributes llama.cpp sets by model name (its GGUF files carry no per-token attributes).
        string modelName = (md.TryGetString("general.name") ?? "").ToLowerInvariant();
        if (modelName.Contains("phi-3") || modelName.Contains("phi3"))
        {
            for (int i = 0; i < n; i++)
                if ((_attrs[i] & (TokenAttributes.Control | TokenAttributes.UserDefined | TokenAttributes.Unknown)) != 0)
                    _attrs[i] |= TokenAttributes.RStrip;
            SetStrip("</s>", true);
            foreach (var t in new[] { "<unk>", "<s>", "<|endoftext|>" }) SetStrip(t, false);
        }
        else if (modelName.Contains("modern-bert") && _ids.TryGetValue("[MASK]", out int maskId))
        {
            _attrs[maskId] |= TokenAttributes.LStrip;
        }

        var special = new List<int>();
        for (int i = 0; i < n; i++)
            if ((_attrs[i] & (TokenAttributes.Control | TokenAttributes.UserDefined | TokenAttributes.Unknown)) != 0)
                special.Add(i);
        var byteLen = special.ToDictionary(i => i, i => Encoding.UTF8.GetByteCount(_text[i]));
        SpecialTokens = special.OrderByDescending(i => byteLen[i]).ThenBy(i => i).ToArray();

        Bos = bos; Eos = eos; Eot = eot; Eom = eom; Unknown = unk; Padding = pad; Separator = sep;
        AddBos = addBos; AddEos = addEos; AddSpacePrefix = addSpacePrefix; IgnoreMerges = ignoreMerges; CleanSpaces = cleanSpaces;
        EndOfGeneration = eog;
        _endOfGenerationIds = [.. eog];

        if (Kind == VocabularyKind.SentencePiece)
        {
            Newline = FindByteToken((byte)'\n', out int nl) ? nl : pad;
        }
        else
        {
            var ids = new Tokenizer(this).Encode("\n", addSpecial: false, parseSpecial: false);
            Newline = ids.Length > 0 ? ids[0] : pad;
        }

        void SetStrip(string token, bool on)
        {
            // llama.cpp looks these up with token_to_id.at(): a vocabulary without them fails to load there.
            if (!_ids.TryGetValue(token, out int id))
                throw new TokenizerException($"phi-3 vocabulary is missing the token '{token}'");
            _attrs[id] = on ? _attrs[id] | TokenAttributes.RStrip : _attrs[id] & ~TokenAttributes.RStrip;
        }

        int FindAny(params string[] texts)
        {
            foreach (var t in texts) if (TypedSpecial(t, out int id)) return id;
            return None;
        }
    }

    /// <summary>SPM byte fallback: <c>&lt;0xXX&gt;</c>, else the single-byte text.</summary>
    internal bool FindByteToken(byte b, out int id)
    {
        Span<char> buf = stackalloc char[6];
        "<0x".CopyTo(buf);
        buf[3] = "0123456789ABCDEF"[b >> 4];
        buf[4] = "0123456789ABCDEF"[b & 15];
        buf[5] = '>';
        id = Find(buf);
        if (id != None) return true;
        if (b < 0x80)
        {
            Span<char> one = [(char)b];
            id = Find(one);
        }
        return id != None;
    }

    private static (PreTokenizerKind Kind, bool IgnoreMerges, bool AddBos, bool CleanSpaces, bool NoBos) ResolvePre(string? pre, bool addBos, bool clean)
    {
        switch (pre)
        {
            case null or "" or "default":
                return (PreTokenizerKind.Default, false, addBos, clean, false);
            case "llama3" or "llama-v3" or "llama-bpe" or "falcon3" or "falcon-h1" or "pixtral" or "midm-2.0" or "lfm2" or "jina-v5-nano":
                return (PreTokenizerKind.Llama3, true, true, clean, false);
            case "dbrx" or "smaug-bpe":
                return (PreTokenizerKind.Llama3, false, addBos, clean, false);
            case "glm4" or "chatglm-bpe":
                return (PreTokenizerKind.Llama3, false, addBos, clean, true);
            case "qwen2" or "deepseek-r1-qwen" or "kormo" or "f2llmv2" or "hunyuan" or "solar-open":
                return (PreTokenizerKind.Qwen2, false, addBos, false, false);
            case "megrez" or "stablelm2":
                return (PreTokenizerKind.Qwen2, false, addBos, clean, false);
            case "gpt-2" or "phi-2" or "jina-es" or "jina-de" or "gigachat" or "jina-v2-es" or "jina-v2-de" or "a.x-4.0" or "mellum"
                or "modern-bert" or "mpt" or "olmo" or "jais" or "exaone4" or "jina-v1-en" or "jina-v2-code" or "roberta-bpe":
                return (PreTokenizerKind.Gpt2, false, addBos, clean, false);
            case "trillion" or "granite-docling":
                return (PreTokenizerKind.Gpt2, false, addBos, false, false);
            case "starcoder" or "refact" or "codeshell" or "exaone" or "minerva-7b" or "mellum2":
                return (PreTokenizerKind.SmolLm, false, addBos, clean, false);
            case "smollm" or "command-r":
                return (PreTokenizerKind.SmolLm, false, addBos, false, false);
            default:
                throw new TokenizerException($"pre-tokenizer '{pre}' is not supported by Strata");
        }
    }
}
