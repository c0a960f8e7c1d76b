using System.Text.Json;
using System.Text.RegularExpressions;
using Strata.Gguf;
using Strata.Tokenizers;

namespace Strata.Conversion;

/// <summary>
/// A Hugging Face tokenizer (<c>tokenizer.json</c> + <c>tokenizer_config.json</c>) turned into the GGUF tokenizer
/// metadata that llama.cpp's convert_hf_to_gguf.py writes for it:
/// SentencePiece-derived BPE with byte fallback (Llama 2 style) becomes <c>tokenizer.ggml.model = llama</c> (as the
/// script's LlamaHfVocab does, byte tokens typed byte, special tokens control; but scored by merge rank, see
/// <see cref="SpmScores"/>, where the script writes −1000 for every token and so makes llama.cpp merge leftmost-first);
/// byte-level BPE (Llama 3, Qwen2/3, GPT-2) becomes <c>gpt2</c> with merges, added tokens typed control when special
/// or special-looking and user-defined otherwise, and the pre-tokenizer named from the split regex.
/// </summary>
public sealed class HfTokenizer
{
    public string Model { get; }
    public string Pre { get; }
    public string[] Tokens { get; }
    /// <summary>Scores (only for the <c>llama</c> model).</summary>
    public float[]? Scores { get; }
    public int[] TokenTypes { get; }
    /// <summary>Merges as "left right" (only for <c>gpt2</c>).</summary>
    public string[]? Merges { get; }
    /// <summary>Special token ids by kind: bos, eos, unk, sep, pad, cls, mask, eot, eom.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokenIds { get; }
    /// <summary>add_bos / add_eos / add_sep flags, when the files state them.</summary>
    public IReadOnlyDictionary<string, bool> AddSpecialTokens { get; }
    public string? ChatTemplate { get; }
    /// <summary>Named extra chat templates (tokenizer_config's list form), name → template.</summary>
    public IReadOnlyDictionary<string, string> NamedChatTemplates { get; }
    public bool NormalizerLowercase { get; }
    /// <summary>SentencePiece style only: whether text gets a leading "▁" (a <c>Prepend</c> normalizer, or a
    /// <c>Metaspace</c> pre-tokenizer that prepends), written as <c>tokenizer.ggml.add_space_prefix</c>.</summary>
    public bool? AddSpacePrefix { get; }
    /// <summary>The tokenizer.json normalizer includes NFC (Qwen): written as <c>tokenizer.ggml.normalizer.nfc</c>.</summary>
    public bool NormalizerNfc { get; }
    /// <summary>Added tokens left out because their ids lie past the model's vocabulary, as "'text' (id)".</summary>
    public IReadOnlyList<string> DroppedTokens { get; private init; } = [];

    /// <summary>The score convert_hf_to_gguf.py gives the [PAD&lt;id&gt;] placeholders of a SentencePiece vocabulary.</summary>
    public const float PadScore = -10000f;

    private HfTokenizer(string model, string pre, string[] tokens, float[]? scores, int[] types, string[]? merges,
        Dictionary<string, int> ids, Dictionary<string, bool> add, string? chat, Dictionary<string, string> named, bool lower, bool nfc, bool? spacePrefix)
    {
        NormalizerNfc = nfc;
        AddSpacePrefix = spacePrefix;
        Model = model; Pre = pre; Tokens = tokens; Scores = scores; TokenTypes = types; Merges = merges;
        SpecialTokenIds = ids; AddSpecialTokens = add; ChatTemplate = chat; NamedChatTemplates = named; NormalizerLowercase = lower;
    }

    /// <summary>
    /// Reads the tokenizer. <paramref name="vocabSize"/> is the model's vocabulary size (its embedding rows) when known:
    /// the ids the tokenizer leaves free below it become unused <c>[PAD&lt;id&gt;]</c> tokens, as the convert script
    /// pads; a tokenizer with more tokens than that is an error naming <paramref name="vocabSizeSource"/>, where the size
    /// comes from. <paramref name="pre"/> overrides the pre-tokenizer name that is otherwise derived from the split regex.
    /// </summary>
    public static HfTokenizer Load(string tokenizerJsonPath, string? tokenizerConfigPath, int? vocabSize = null, string? pre = null, string? vocabSizeSource = null)
    {
        try
        {
            using var tj = JsonDocument.Parse(File.ReadAllBytes(tokenizerJsonPath));
            JsonDocument? tc = tokenizerConfigPath is not null && File.Exists(tokenizerConfigPath)
                ? JsonDocument.Parse(File.ReadAllBytes(tokenizerConfigPath)) : null;
            using (tc)
            {
                string? dir = tokenizerConfigPath is null ? null : Path.GetDirectoryName(Path.GetFullPath(tokenizerConfigPath));
                return Build(tj.RootElement, tc?.RootElement, dir, vocabSize, pre, tokenizerJsonPath, vocabSizeSource);
            }
        }
        catch (JsonException e)
        {
            throw new TokenizerException($"{tokenizerJsonPath}: invalid JSON: {e.Message}");
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException)
        {
            throw new TokenizerException($"{tokenizerJsonPath}: unexpected tokenizer.json layout: {e.Message}");
        }
    }

    private static HfTokenizer Build(JsonElement tj, JsonElement? tc, string? configDir, int? vocabSize, string? preOverride, string path, string? sizeSource)
    {
        var model = tj.GetProperty("model");
        string type = model.GetProperty("type").GetString() ?? "";
        if (type != "BPE") throw new TokenizerException($"tokenizer model type '{type}' is not supported (only BPE)");
        bool byteFallback = model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True;
        bool ignoreMerges = model.TryGetProperty("ignore_merges", out var im) && im.ValueKind == JsonValueKind.True;
        string decoderType = tj.TryGetProperty("decoder", out var dec) && dec.ValueKind == JsonValueKind.Object
            ? dec.GetProperty("type").GetString() ?? "" : "";

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in model.GetProperty("vocab").EnumerateObject())
            vocab[p.Name] = p.Value.GetInt32() is int v and >= 0 ? v : throw new TokenizerException($"token '{p.Name}' has a negative id");
        var added = new List<(int Id, string Content, bool Special, bool Normalized)>();
        if (tj.TryGetProperty("added_tokens", out var at) && at.ValueKind == JsonValueKind.Array)
            foreach (var a in at.EnumerateArray())
                added.Add((a.GetProperty("id").GetInt32() is int v and >= 0 ? v : throw new TokenizerException("an added token has a negative id"),
                    a.GetProperty("content").GetString()!,
                    a.TryGetProperty("special", out var sp) && sp.ValueKind == JsonValueKind.True,
                    a.TryGetProperty("normalized", out var nz) && nz.ValueKind == JsonValueKind.True));

        var dropped = new List<string>();
        TokenizerException TooMany(int count, int size) => new(sizeSource is null
            ? $"{path} has {count} tokens, more than the vocabulary size {size}"
            : $"{path} has {count} tokens but {sizeSource} has {size} rows");

        bool isLlama3 = ignoreMerges && !byteFallback;
        string gguModel, pre;
        string[] tokens;
        float[]? scores = null;
        int[] types;
        bool loadMerges;
        int? nVocab;

        if (!isLlama3 && byteFallback && decoderType == "Sequence")
        {
            // The layout of the script's _create_vocab_sentencepiece, tokenizer.json standing in for tokenizer.model:
            // the base pieces, added tokens at their ids (those past the model's vocabulary dropped, as the script does),
            // and [PAD<id>] placeholders for the ids left up to the vocabulary size. Types as its LlamaHfVocab gives them:
            // specials control, <0xXX> bytes, other added tokens beyond the base user-defined.
            var specials = SpecialTokenTexts(tc);
            int baseSize = Math.Max(vocab.Count, vocab.Count == 0 ? 0 : vocab.Values.Max() + 1);
            int size = vocabSize ?? Math.Max(baseSize, added.Count == 0 ? 0 : added.Max(a => a.Id) + 1);
            if (baseSize > size) throw TooMany(baseSize, size);
            var text = new string?[size];
            foreach (var (k, v) in vocab) text[v] = k;
            foreach (var a in added)
            {
                if (a.Id < size) text[a.Id] = a.Content;
                else dropped.Add($"'{a.Content}' ({a.Id})");
            }
            var specialIds = new HashSet<int>();
            foreach (var s in specials) if (Array.IndexOf(text, s) is int sid and >= 0) specialIds.Add(sid);
            tokens = new string[size];
            types = new int[size];
            for (int id = 0; id < size; id++)
            {
                string? t = text[id];
                if (t is null && id < baseSize) throw new TokenizerException($"tokenizer.json has no token with id {id}");
                tokens[id] = t ?? $"[PAD{id}]";
                types[id] = (int)(t is null ? TokenType.Unused
                    : id >= baseSize ? (specials.Contains(t) ? (specialIds.Contains(id) ? TokenType.Control : TokenType.Normal) : TokenType.UserDefined)
                    : ByteToken.IsMatch(t) ? TokenType.Byte : specialIds.Contains(id) ? TokenType.Control : TokenType.Normal);
            }
            scores = SpmScores(tokens, model);
            for (int id = 0; id < size; id++) if (text[id] is null) scores[id] = PadScore;
            gguModel = "llama";
            pre = "default";
            loadMerges = false;
            nVocab = tokens.Length;
        }
        else if (!byteFallback && (isLlama3 || decoderType == "ByteLevel"))
        {
            // get_vocab_base: ids 0..vocab_size-1, holes become [PADn] (unused), added tokens control or user-defined.
            var reverse = new Dictionary<int, string>();
            foreach (var (k, v) in vocab) reverse[v] = k;
            var addedById = new Dictionary<int, (string Content, bool Special, bool Normalized)>();
            foreach (var a in added) { reverse[a.Id] = a.Content; addedById[a.Id] = (a.Content, a.Special, a.Normalized); }
            int maxId = reverse.Count == 0 ? -1 : reverse.Keys.Max();
            int size = vocabSize ?? maxId + 1;
            // The script asserts every id fits; added tokens past the vocabulary are not dropped here as for SentencePiece.
            if (maxId >= size) throw TooMany(maxId + 1, size);
            tokens = new string[size];
            types = new int[size];
            for (int i = 0; i < size; i++)
            {
                if (!reverse.TryGetValue(i, out var text)) { tokens[i] = $"[PAD{i}]"; types[i] = (int)TokenType.Unused; continue; }
                if (addedById.TryGetValue(i, out var a))
                {
                    if (a.Special || LooksSpecial(text)) types[i] = (int)TokenType.Control;
                    else
                    {
                        text = text.Replace('\u2581', ' ');
                        types[i] = (int)TokenType.UserDefined;
                    }
                }
                else types[i] = (int)TokenType.Normal;
                tokens[i] = text;
            }
            gguModel = "gpt2";
            pre = preOverride ?? DetectPre(tj);
            loadMerges = true;
            nVocab = null;
        }
        else
        {
            throw new TokenizerException("unsupported tokenizer.json: expected SentencePiece-style BPE with byte_fallback or byte-level BPE");
        }

        // SpecialVocab
        string[]? merges = null;
        if (loadMerges && model.TryGetProperty("merges", out var mj) && mj.ValueKind == JsonValueKind.Array && mj.GetArrayLength() > 0)
        {
            merges = new string[mj.GetArrayLength()];
            int i = 0;
            foreach (var m in mj.EnumerateArray())
            {
                if (m.ValueKind == JsonValueKind.String) merges[i++] = m.GetString()!;
                else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2)
                    merges[i++] = EncodeSpaces(m[0].GetString()!) + " " + EncodeSpaces(m[1].GetString()!);
                else throw new TokenizerException("unknown tokenizer merges format");
            }
        }
        if (loadMerges && merges is null) throw new TokenizerException("byte-level BPE tokenizer.json has no merges");

        var specialTypes = new List<string> { "bos", "eos", "unk", "sep", "pad", "cls", "mask" };
        var ids = new Dictionary<string, int>();
        var add = new Dictionary<string, bool>();
        var config = new Dictionary<string, JsonElement>();
        if (tc is { ValueKind: JsonValueKind.Object } tco) foreach (var p in tco.EnumerateObject()) config[p.Name] = p.Value.Clone();
        bool haveConfig = tc is not null && config.Count > 0;

        string? Str(string key) => config.TryGetValue(key, out var v) ? v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
            _ => null,
        } : null;
        string? specialBos = Str("bos_token"), specialCls = Str("cls_token"), specialEos = Str("eos_token"), specialSep = Str("sep_token");
        if (string.IsNullOrEmpty(specialBos) && !string.IsNullOrEmpty(specialCls) && haveConfig) { config["bos_token"] = JsonSerializer.SerializeToElement(specialCls); specialBos = specialCls; }
        if (string.IsNullOrEmpty(specialEos) && !string.IsNullOrEmpty(specialSep) && haveConfig) { config["eos_token"] = JsonSerializer.SerializeToElement(specialSep); specialEos = specialSep; }

        if (tj.TryGetProperty("post_processor", out var pp) && pp.ValueKind == JsonValueKind.Object)
        {
            var processors = pp.TryGetProperty("processors", out var procs) && procs.ValueKind == JsonValueKind.Array
                ? procs.EnumerateArray().ToList() : [pp];
            foreach (var proc in processors)
            {
                string? ptype = proc.TryGetProperty("type", out var pt) ? pt.GetString() : null;
                if (ptype == "RobertaProcessing")
                {
                    add["bos"] = true; add["eos"] = true; add["sep"] = true;
                    continue;
                }
                if (ptype != "TemplateProcessing") continue;
                var single = proc.TryGetProperty("single", out var sj) ? sj.EnumerateArray().ToList() : [];
                var pair = proc.TryGetProperty("pair", out var pj) ? pj.EnumerateArray().ToList() : [];
                string? first = null, last = null;
                if (single.Count > 1)
                {
                    first = SpecialId(single[0]);
                    if (!string.IsNullOrEmpty(first))
                    {
                        if (!haveConfig) specialBos = first;
                        add["bos"] = first == specialBos || first == specialCls;
                    }
                    last = SpecialId(single[^1]);
                    if (!string.IsNullOrEmpty(last))
                    {
                        if (!haveConfig) specialEos = last;
                        else if (last != specialEos)
                        {
                            string extra = !specialTypes.Contains("eot") ? "eot" : !specialTypes.Contains("eom") ? "eom" : "";
                            if (extra.Length > 0)
                            {
                                specialTypes.Add(extra);
                                config[extra + "_token"] = JsonSerializer.SerializeToElement(specialEos);
                            }
                            config["eos_token"] = JsonSerializer.SerializeToElement(last);
                            specialEos = last;
                        }
                        add["eos"] = last == specialEos;
                    }
                }
                if (pair.Count > 0)
                {
                    int seqStart = !string.IsNullOrEmpty(first) && SpecialId(pair[0]) == first ? 1 : 0;
                    int seqStop = !string.IsNullOrEmpty(last) && SpecialId(pair[^1]) == last ? pair.Count - 1 : pair.Count;
                    var mid = pair.Skip(seqStart).Take(Math.Max(0, seqStop - seqStart)).ToList();
                    if (mid.Count > 0)
                    {
                        string? a = SequenceId(mid[0]), b = SequenceId(mid[^1]);
                        if (a == "A" && b == "B" && mid.Count > 2)
                        {
                            var inner = mid.Skip(1).Take(mid.Count - 2).ToList();
                            bool addSep = false;
                            string? entry = SpecialId(inner[0]);
                            if (!string.IsNullOrEmpty(entry) && (entry == specialSep || entry == specialEos) && string.IsNullOrEmpty(last)) addSep = true;
                            if (inner.Count == 2)
                            {
                                string? entry2 = SpecialId(inner[1]);
                                if (!string.IsNullOrEmpty(entry2) && (entry2 == specialSep || entry2 == specialEos)) addSep = true;
                            }
                            add["sep"] = addSep;
                            if (addSep && string.IsNullOrEmpty(specialSep) && haveConfig) config["sep_token"] = JsonSerializer.SerializeToElement(specialEos);
                        }
                    }
                }
            }
        }

        var normalizers = Steps(tj, "normalizer", "normalizers");
        bool lower = normalizers.Any(n => TypeOf(n) switch
        {
            "Lowercase" => true,
            "BertNormalizer" => !n.TryGetProperty("lowercase", out var l) || l.ValueKind != JsonValueKind.False,
            _ => false,
        });
        bool nfc = normalizers.Any(n => TypeOf(n) == "NFC");
        if (normalizers.Select(TypeOf).FirstOrDefault(t => t is "NFD" or "NFKC" or "NFKD" or "Precompiled") is string form)
            throw new TokenizerException($"tokenizer.json normalizer '{form}' is not supported (supported: NFC, lowercase, SentencePiece's prepend/replace)");

        string? chat = null;
        var named = new Dictionary<string, string>();
        if (haveConfig)
        {
            JsonElement? ct = config.TryGetValue("chat_template", out var cte) ? cte : null;
            if (ct is null && configDir is not null)
            {
                string jinja = Path.Combine(configDir, "chat_template.jinja"), json = Path.Combine(configDir, "chat_template.json");
                if (File.Exists(jinja)) chat = File.ReadAllText(jinja);
                else if (File.Exists(json))
                {
                    using var cj = JsonDocument.Parse(File.ReadAllBytes(json));
                    if (cj.RootElement.TryGetProperty("chat_template", out var c) && c.ValueKind == JsonValueKind.String) chat = c.GetString();
                }
            }
            else if (ct is { ValueKind: JsonValueKind.String } cs) chat = cs.GetString();
            else if (ct is { ValueKind: JsonValueKind.Array } ca)
            {
                foreach (var e in ca.EnumerateArray())
                {
                    string? name = e.TryGetProperty("name", out var n) ? n.GetString() : null;
                    string? tmpl = e.TryGetProperty("template", out var t) ? t.GetString() : null;
                    if (name is null || tmpl is null) continue;
                    if (name == "default") chat = tmpl; else named[name] = tmpl;
                }
            }

            foreach (var typ in specialTypes)
            {
                if (config.TryGetValue($"add_{typ}_token", out var ae) && ae.ValueKind is JsonValueKind.True or JsonValueKind.False)
                    add[typ] = ae.GetBoolean();
                string? content = Str($"{typ}_token");
                if (content is null) continue;
                var match = added.FirstOrDefault(x => x.Content == content);
                if (match.Content is null) continue;
                if (match.Id < 0) throw new TokenizerException($"invalid value for special token type {typ}: {match.Id}");
                if ((nVocab is null || match.Id < nVocab) && !ids.ContainsKey(typ)) ids[typ] = match.Id;
            }
        }

        // A byte-level BPE whose files neither ask for BOS nor add it in a post-processor never gets one from Hugging
        // Face; say so explicitly, or llama.cpp would add one by its pre-tokenizer's default (llama-bpe: on).
        if (gguModel == "gpt2" && !add.ContainsKey("bos")) add["bos"] = false;

        bool? spacePrefix = gguModel == "llama" ? SpmSpacePrefix(normalizers, Steps(tj, "pre_tokenizer", "pretokenizers")) : null;
        return new HfTokenizer(gguModel, pre, tokens, scores, types, merges, ids, add, chat, named, lower, nfc, spacePrefix) { DroppedTokens = dropped };

        static string? SpecialId(JsonElement e) =>
            e.TryGetProperty("SpecialToken", out var s) && s.TryGetProperty("id", out var id) ? id.GetString() : null;
        static string? SequenceId(JsonElement e) =>
            e.TryGetProperty("Sequence", out var s) && s.TryGetProperty("id", out var id) ? id.GetString() : null;
    }

    /// <summary>
    /// Scores for llama.cpp's SentencePiece merge loop, which joins the adjacent pair whose joined piece scores highest.
    /// Hugging Face's BPE joins the pair ranked first in <c>merges</c>; scoring each piece −(rank of the first merge
    /// that makes it) gives the same order. This recovers SentencePiece's own scores, which the HF export dropped: its
    /// whitespace runs ("▁▁", "▁▁▁▁") sit early in the id order but score −1e9, so they are merged last and the export
    /// lists them at the end of <c>merges</c>. Pieces no merge makes score below every merged one, in id order; a
    /// tokenizer.json without merges falls back to −id (SentencePiece lists BPE pieces in merge order).
    /// </summary>
    private static float[] SpmScores(string[] tokens, JsonElement model)
    {
        var scores = new float[tokens.Length];
        if (!model.TryGetProperty("merges", out var mj) || mj.ValueKind != JsonValueKind.Array || mj.GetArrayLength() == 0)
        {
            for (int id = 0; id < scores.Length; id++) scores[id] = -id;
            return scores;
        }
        var idOf = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (int id = 0; id < tokens.Length; id++) idOf.TryAdd(tokens[id], id);
        int merges = mj.GetArrayLength();
        var made = new bool[tokens.Length];
        int rank = 0;
        foreach (var m in mj.EnumerateArray())
        {
            string joined;
            if (m.ValueKind == JsonValueKind.String)
            {
                string pair = m.GetString()!;
                int sp = pair.IndexOf(' ');
                if (sp <= 0 || sp == pair.Length - 1) throw new TokenizerException($"merge {rank} ('{pair}') is not two pieces separated by a space");
                joined = string.Concat(pair.AsSpan(0, sp), pair.AsSpan(sp + 1));
            }
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2)
                joined = m[0].GetString() + m[1].GetString();
            else throw new TokenizerException($"merge {rank} has an unknown format");
            if (idOf.TryGetValue(joined, out int id) && !made[id]) { made[id] = true; scores[id] = -rank; }
            rank++;
        }
        for (int id = 0; id < scores.Length; id++)
            if (!made[id]) scores[id] = -(float)(merges + id);
        return scores;
    }

    private static readonly Regex ByteToken = new("^<0x[0-9A-Fa-f]{2}>$", RegexOptions.CultureInvariant);

    private static string EncodeSpaces(string s) => s.Replace(' ', (char)(' ' + 256));

    /// <summary>convert_hf_to_gguf.py's does_token_look_special.</summary>
    internal static bool LooksSpecial(string t) =>
        t is "<pad>" or "<mask>" or "<2mass>" or "[@BOS@]"
        || (t.StartsWith("<|", StringComparison.Ordinal) && t.EndsWith("|>", StringComparison.Ordinal))
        || (t.StartsWith("<｜", StringComparison.Ordinal) && t.EndsWith("｜>", StringComparison.Ordinal))
        || (t.StartsWith("<unused", StringComparison.Ordinal) && t.EndsWith('>'));

    private static HashSet<string> SpecialTokenTexts(JsonElement? tc)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        if (tc is not { ValueKind: JsonValueKind.Object } c) return set;
        foreach (var key in new[] { "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token" })
        {
            if (!c.TryGetProperty(key, out var v)) continue;
            if (v.ValueKind == JsonValueKind.String) set.Add(v.GetString()!);
            else if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var cc) && cc.ValueKind == JsonValueKind.String) set.Add(cc.GetString()!);
        }
        if (c.TryGetProperty("additional_special_tokens", out var extra) && extra.ValueKind == JsonValueKind.Array)
            foreach (var e in extra.EnumerateArray())
            {
                if (e.ValueKind == JsonValueKind.String) set.Add(e.GetString()!);
                else if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("content", out var cc) && cc.ValueKind == JsonValueKind.String) set.Add(cc.GetString()!);
            }
        return set;
    }

    /// <summary>
    /// Whether a SentencePiece-style tokenizer.json puts "▁" before the text: the legacy export does it with a
    /// <c>Prepend("▁")</c> normalizer, newer ones with a <c>Metaspace</c> pre-tokenizer (unless its prepend_scheme is
    /// "never"), and tokenizers without either (Gemma's) never do.
    /// </summary>
    private static bool SpmSpacePrefix(List<JsonElement> normalizers, List<JsonElement> preTokenizers) =>
        normalizers.Any(n => TypeOf(n) == "Prepend" && n.TryGetProperty("prepend", out var p) && p.GetString() == "\u2581")
        || preTokenizers.Any(p => TypeOf(p) == "Metaspace"
            && !(p.TryGetProperty("prepend_scheme", out var scheme) && scheme.GetString() == "never")
            && !(p.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.False));

    /// <summary>
    /// The steps of a tokenizer.json normalizer or pre-tokenizer (<paramref name="key"/>), with <c>Sequence</c>s
    /// (whose steps are under <paramref name="listKey"/>) flattened in order; none when the key is absent or null.
    /// </summary>
    private static List<JsonElement> Steps(JsonElement tj, string key, string listKey)
    {
        var steps = new List<JsonElement>();
        if (tj.TryGetProperty(key, out var e)) Add(e);
        return steps;

        void Add(JsonElement x)
        {
            if (x.ValueKind != JsonValueKind.Object) return;
            if (TypeOf(x) == "Sequence" && x.TryGetProperty(listKey, out var list) && list.ValueKind == JsonValueKind.Array)
                foreach (var y in list.EnumerateArray()) Add(y);
            else steps.Add(x);
        }
    }

    private static string? TypeOf(JsonElement x) =>
        x.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;

    private const string Llama3Regex = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    private const string Qwen2Regex = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>
    /// The convert script names the pre-tokenizer by hashing the tokenizer's output on a probe text; without the
    /// Python tokenizer we recognise the pre-tokenizer configuration itself.
    /// </summary>
    private static string DetectPre(JsonElement tj)
    {
        var parts = Steps(tj, "pre_tokenizer", "pretokenizers");
        if (parts.Count == 0) throw new TokenizerException("cannot determine the pre-tokenizer (tokenizer.json has none); pass it explicitly");
        var regexes = new List<string>();
        bool digitsIndividually = false, byteLevelRegex = false;
        foreach (var p in parts)
        {
            switch (TypeOf(p))
            {
                case "Split" when p.TryGetProperty("pattern", out var pat) && pat.TryGetProperty("Regex", out var r):
                    regexes.Add(r.GetString()!); break;
                case "Digits":
                    digitsIndividually = p.TryGetProperty("individual_digits", out var ind) && ind.ValueKind == JsonValueKind.True; break;
                case "ByteLevel":
                    byteLevelRegex = !p.TryGetProperty("use_regex", out var ur) || ur.ValueKind != JsonValueKind.False; break;
            }
        }
        if (regexes.Count == 1 && regexes[0] == Llama3Regex) return "llama-bpe";
        if (regexes.Count == 1 && regexes[0] == Qwen2Regex) return "qwen2";
        if (regexes.Count == 0 && byteLevelRegex) return digitsIndividually ? "smollm" : "gpt-2";
        throw new TokenizerException("unrecognised pre-tokenizer configuration; pass the pre-tokenizer name explicitly");
    }

    /// <summary>
    /// Writes the <c>tokenizer.*</c> metadata. <paramref name="strataExtensions"/> adds the keys llama.cpp ignores and
    /// Strata reads to tokenize exactly as Hugging Face does (NFC, exact token types); without them the file is what
    /// llama.cpp's own converter writes, and Strata tokenizes it as llama.cpp does.
    /// </summary>
    public void WriteTo(GgufWriter w, bool strataExtensions = true)
    {
        const string K = "tokenizer.ggml.";
        w.Add(K + "model", Model);
        w.Add(K + "pre", Pre);
        w.Add(K + "tokens", Tokens);
        if (Scores is not null) w.Add(K + "scores", Scores);
        if (AddSpacePrefix is bool prefix) w.Add(K + "add_space_prefix", prefix);
        w.Add(K + "token_type", TokenTypes);
        if (Merges is not null) w.Add(K + "merges", Merges);
        foreach (var (typ, id) in SpecialTokenIds)
        {
            string? key = typ switch
            {
                "bos" => "bos_token_id", "eos" => "eos_token_id", "unk" => "unknown_token_id", "sep" => "seperator_token_id",
                "pad" => "padding_token_id", "cls" => "cls_token_id", "mask" => "mask_token_id", "eot" => "eot_token_id",
                "eom" => "eom_token_id", _ => null,
            };
            if (key is not null) w.Add(K + key, (uint)id);
        }
        foreach (var (typ, value) in AddSpecialTokens)
            if (typ is "bos" or "eos" or "sep") w.Add($"{K}add_{typ}_token", value);
        if (ChatTemplate is not null) w.Add("tokenizer.chat_template", ChatTemplate);
        if (NamedChatTemplates.Count > 0)
        {
            foreach (var (name, tmpl) in NamedChatTemplates) w.Add($"tokenizer.chat_template.{name}", tmpl);
            w.Add("tokenizer.chat_templates", NamedChatTemplates.Keys.ToArray());
        }
        if (NormalizerLowercase) w.Add(K + "normalizer.lowercase", true);
        if (!strataExtensions) return;
        if (NormalizerNfc) w.Add(K + "normalizer.nfc", true);
        // The types above are the source tokenizer's: Strata need not guess special tokens from their text.
        w.Add("strata.tokenizer.exact_token_types", true);
    }
}
