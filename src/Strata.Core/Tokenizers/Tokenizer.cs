using System.Collections.Concurrent;
using System.Text;

namespace Strata.Tokenizers;

/// <summary>Text ↔ token ids for one vocabulary.</summary>
public interface ITokenizer
{
    Vocabulary Vocabulary { get; }

    /// <summary>
    /// Tokenizes <paramref name="text"/>. <paramref name="addSpecial"/> adds BOS/EOS as the vocabulary asks;
    /// <paramref name="parseSpecial"/> lets control tokens written in the text (e.g. "&lt;|im_start|&gt;") become those tokens.
    /// User-defined tokens are always matched.
    /// </summary>
    int[] Encode(string text, bool addSpecial, bool parseSpecial);

    /// <summary>The bytes a token stands for (llama.cpp's token_to_piece). Control/unknown tokens are empty unless <paramref name="special"/>.</summary>
    byte[] TokenBytes(int id, bool special = false);

    /// <summary>The concatenated pieces of <paramref name="ids"/>, decoded as UTF-8 (invalid bytes become U+FFFD).</summary>
    string Decode(IEnumerable<int> ids, bool special = false);
}

/// <summary>llama.cpp-identical tokenizer for SentencePiece (<c>llama</c>) and byte-level BPE (<c>gpt2</c>) vocabularies.</summary>
public sealed class Tokenizer : ITokenizer
{
    private readonly Vocabulary _v;
    private readonly byte[][] _pieces;          // token_to_piece(id, special: true)
    private readonly ConcurrentDictionary<string, int[]> _bpeCache = new(StringComparer.Ordinal);
    private const int BpeCacheLimit = 1 << 16;

    public Vocabulary Vocabulary => _v;

    public Tokenizer(Vocabulary vocabulary)
    {
        _v = vocabulary;
        _pieces = new byte[_v.Count][];
        for (int i = 0; i < _pieces.Length; i++) _pieces[i] = ComputePiece(i);
    }

    public static Tokenizer FromGguf(Gguf.GgufMetadata metadata) => new(Vocabulary.FromGguf(metadata));

    // ---------------------------------------------------------------- encoding

    private readonly record struct Fragment(int Token, int Start, int Length)
    {
        public bool IsText => Token < 0;
    }

    public int[] Encode(string text, bool addSpecial, bool parseSpecial)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = ReplaceLoneSurrogates(text);
        var fragments = new List<Fragment>();
        if (text.Length > 0)
        {
            fragments.Add(new Fragment(-1, 0, text.Length));
            Partition(text, fragments, parseSpecial);
        }

        var output = new List<int>(text.Length / 3 + 4);
        if (_v.Kind == VocabularyKind.SentencePiece)
        {
            bool prevSpecial = true;
            if (addSpecial && _v.AddBos) output.Add(_v.Bos);
            foreach (var f in fragments)
            {
                if (f.IsText)
                {
                    var sb = new StringBuilder(f.Length + 1);
                    if (_v.AddSpacePrefix && prevSpecial) sb.Append(' ');
                    sb.Append(Normalized(text, f));
                    sb.Replace(' ', '\u2581');
                    SpmTokenize(sb.ToString(), output);
                    prevSpecial = false;
                }
                else
                {
                    output.Add(f.Token);
                    prevSpecial = true;
                }
            }
            if (addSpecial && _v.AddEos) output.Add(_v.Eos);
        }
        else
        {
            if (addSpecial && _v.AddBos) output.Add(_v.Bos);
            foreach (var f in fragments)
            {
                if (f.IsText) BpeTokenize(Normalized(text, f), output);
                else output.Add(f.Token);
            }
            if (addSpecial && _v.AddEos) output.Add(_v.Eos);
        }
        return output.ToArray();
    }

    /// <summary>
    /// A text fragment, in NFC when the vocabulary asks for it. Hugging Face normalizes after splitting out special
    /// tokens, so normalizing per fragment keeps a special token's text intact.
    /// </summary>
    private ReadOnlySpan<char> Normalized(string text, Fragment f)
    {
        var span = text.AsSpan(f.Start, f.Length);
        if (!_v.NormalizeNfc || Nfc.IsQuickNormalized(span)) return span;
        return Nfc.Normalize(span.ToString());
    }

    /// <summary>Text reaches llama.cpp as UTF-8, where a lone surrogate can only be U+FFFD; make it so here too.</summary>
    private static string ReplaceLoneSurrogates(string text)
    {
        if (text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') < 0) return text;
        var chars = text.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1])) { i++; continue; }
            if (char.IsSurrogate(chars[i])) chars[i] = '\uFFFD';
        }
        return new string(chars);
    }

    /// <summary>llama.cpp's tokenizer_st_partition: split special-token texts out of the raw text fragments.</summary>
    private void Partition(string text, List<Fragment> fragments, bool parseSpecial)
    {
        var next = new List<Fragment>();
        foreach (int id in _v.SpecialTokens)
        {
            var attr = _v.Attributes(id);
            if (!parseSpecial && (attr & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0) continue;
            string special = _v.TokenText(id);

            bool any = false;
            foreach (var f in fragments)
                if (f.IsText && text.AsSpan(f.Start, f.Length).IndexOf(special, StringComparison.Ordinal) >= 0) { any = true; break; }
            if (!any) continue;

            next.Clear();
            foreach (var f in fragments)
            {
                if (!f.IsText) { next.Add(f); continue; }
                int start = f.Start, length = f.Length;
                while (length > 0)
                {
                    int rel = text.AsSpan(start, length).IndexOf(special, StringComparison.Ordinal);
                    if (rel < 0) { next.Add(new Fragment(-1, start, length)); break; }
                    int match = start + rel;
                    if (match > start)
                    {
                        int leftLen = match - start;
                        if ((attr & TokenAttributes.LStrip) != 0)
                            while (leftLen > 0 && IsCSpace(text[start + leftLen - 1])) leftLen--;
                        if (leftLen > 0) next.Add(new Fragment(-1, start, leftLen));
                    }
                    next.Add(new Fragment(id, 0, 0));
                    int rightStart = match + special.Length;
                    int rightLen = start + length - rightStart;
                    if ((attr & TokenAttributes.RStrip) != 0)
                        while (rightLen > 0 && IsCSpace(text[rightStart])) { rightStart++; rightLen--; }
                    start = rightStart;
                    length = rightLen;
                }
            }
            fragments.Clear();
            fragments.AddRange(next);
        }
    }

    private static bool IsCSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';

    // ---------------------------------------------------------------- SentencePiece

    /// <summary>Merges symbol <paramref name="right"/> into its left neighbour <paramref name="left"/> in the linked list.</summary>
    private static void Join(Symbol[] arr, int left, int right)
    {
        ref var l = ref arr[left];
        ref var r = ref arr[right];
        l.Length += r.Length;
        r.Length = 0;
        l.Next = r.Next;
        if (r.Next >= 0) arr[r.Next].Prev = left;
    }

    private struct Symbol
    {
        public int Prev, Next, Start, Length;
    }

    private void SpmTokenize(string text, List<int> output)
    {
        if (text.Length == 0) return;
        var symbols = new List<Symbol>(text.Length);
        for (int i = 0; i < text.Length;)
        {
            int len = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            int index = symbols.Count;
            symbols.Add(new Symbol { Prev = index - 1, Next = i + len == text.Length ? -1 : index + 1, Start = i, Length = len });
            i += len;
        }
        Symbol[] arr = symbols.ToArray();

        // Highest score first; ties go to the leftmost pair.
        var queue = new PriorityQueue<(int Left, int Right, int Size), (float NegScore, int Left)>();
        void TryAdd(int left, int right)
        {
            if (left == -1 || right == -1) return;
            int size = arr[left].Length + arr[right].Length;
            int id = _v.Find(text.AsSpan(arr[left].Start, size));
            if (id == Vocabulary.None) return;
            // An unused placeholder (the converter's [PAD<id>]) is not a piece Hugging Face or SentencePiece would
            // produce; llama.cpp merges into one should a merge reach it, so files without exact types keep that.
            if (_v.ExactTokenTypes && _v.Attributes(id) == TokenAttributes.Unused) return;
            queue.Enqueue((left, right, size), (-_v.Score(id), left));
        }
        for (int i = 1; i < arr.Length; i++) TryAdd(i - 1, i);

        while (queue.TryDequeue(out var bigram, out _))
        {
            ref var l = ref arr[bigram.Left];
            ref var r = ref arr[bigram.Right];
            if (l.Length == 0 || r.Length == 0 || l.Length + r.Length != bigram.Size) continue;
            Join(arr, bigram.Left, bigram.Right);
            TryAdd(l.Prev, bigram.Left);
            TryAdd(bigram.Left, l.Next);
        }

        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i != -1; i = arr[i].Next)
        {
            var s = arr[i];
            var piece = text.AsSpan(s.Start, s.Length);
            int id = _v.Find(piece);
            if (id != Vocabulary.None) { output.Add(id); continue; }
            // Byte fallback for a symbol that is not a token (only single characters reach here).
            foreach (var rune in piece.EnumerateRunes())
            {
                int n = rune.EncodeToUtf8(utf8);
                for (int j = 0; j < n; j++)
                {
                    if (!_v.FindByteToken(utf8[j], out int b))
                        throw new TokenizerException($"vocabulary has no byte token for 0x{utf8[j]:X2}");
                    output.Add(b);
                }
            }
        }
    }

    // ---------------------------------------------------------------- byte-level BPE

    private void BpeTokenize(ReadOnlySpan<char> text, List<int> output)
    {
        int[] cps = UnicodeInfo.CodePoints(text);
        var words = PreTokenizer.Split(_v.PreTokenizer, cps);
        var sb = new StringBuilder();
        Span<byte> utf8 = stackalloc byte[4];
        int start = 0;
        foreach (int len in words)
        {
            sb.Clear();
            for (int i = start; i < start + len; i++)
            {
                int cp = cps[i];
                int n = new Rune(cp).EncodeToUtf8(utf8);
                for (int j = 0; j < n; j++) sb.Append(ByteLevel.ByteToChar[utf8[j]]);
            }
            start += len;
            string word = sb.ToString();
            if (!_bpeCache.TryGetValue(word, out var ids))
            {
                ids = BpeWord(word);
                if (_bpeCache.Count >= BpeCacheLimit) _bpeCache.Clear();
                _bpeCache.TryAdd(word, ids);
            }
            output.AddRange(ids);
        }
    }

    private int[] BpeWord(string word)
    {
        if (_v.IgnoreMerges)
        {
            int whole = _v.Find(word);
            if (whole != Vocabulary.None) return [whole];
        }
        // Every char of the byte-level text is one symbol (one original byte).
        var arr = new Symbol[word.Length];
        for (int i = 0; i < arr.Length; i++)
            arr[i] = new Symbol { Prev = i - 1, Next = i + 1 == arr.Length ? -1 : i + 1, Start = i, Length = 1 };

        var queue = new PriorityQueue<(int Left, int Right, int LeftLen, int RightLen), (int Rank, int Left)>();
        char[] key = new char[word.Length + 1];
        void TryAdd(int left, int right)
        {
            if (left == -1 || right == -1) return;
            int ll = arr[left].Length, rl = arr[right].Length;
            word.AsSpan(arr[left].Start, ll).CopyTo(key);
            key[ll] = ' ';
            word.AsSpan(arr[right].Start, rl).CopyTo(key.AsSpan(ll + 1));
            if (!_v.MergeRanks.TryGetValue(key.AsSpan(0, ll + rl + 1), out int rank)) return;
            queue.Enqueue((left, right, ll, rl), (rank, left));
        }
        for (int i = 1; i < arr.Length; i++) TryAdd(i - 1, i);

        while (queue.TryDequeue(out var bigram, out _))
        {
            ref var l = ref arr[bigram.Left];
            ref var r = ref arr[bigram.Right];
            if (l.Length != bigram.LeftLen || r.Length != bigram.RightLen || l.Next != bigram.Right) continue;
            Join(arr, bigram.Left, bigram.Right);
            TryAdd(l.Prev, bigram.Left);
            TryAdd(bigram.Left, l.Next);
        }

        var result = new List<int>();
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i != -1; i = arr[i].Next)
        {
            var piece = word.AsSpan(arr[i].Start, arr[i].Length);
            int id = _v.Find(piece);
            if (id != Vocabulary.None) { result.Add(id); continue; }
            // llama.cpp looks each UTF-8 byte of the byte-level text up as a one-byte token and drops misses.
            foreach (var rune in piece.EnumerateRunes())
            {
                int n = rune.EncodeToUtf8(utf8);
                for (int j = 0; j < n; j++)
                {
                    if (utf8[j] >= 0x80) continue;
                    Span<char> one = [(char)utf8[j]];
                    int b = _v.Find(one);
                    if (b != Vocabulary.None) result.Add(b);
                }
            }
        }
        return result.ToArray();
    }

    // ---------------------------------------------------------------- decoding

    public byte[] TokenBytes(int id, bool special = false)
    {
        var attr = _v.Attributes(id);
        if (!special && (attr & (TokenAttributes.Unknown | TokenAttributes.Control)) != 0) return [];
        return _pieces[id];
    }

    private byte[] ComputePiece(int id)
    {
        var attr = _v.Attributes(id);
        string text = _v.TokenText(id);
        if ((attr & (TokenAttributes.Unknown | TokenAttributes.Control | TokenAttributes.UserDefined)) != 0)
            return Encoding.UTF8.GetBytes(text);
        if ((attr & TokenAttributes.Normal) != 0)
        {
            if (_v.Kind == VocabularyKind.SentencePiece) return Encoding.UTF8.GetBytes(text.Replace('\u2581', ' '));
            return ByteLevelDecode(text);
        }
        if ((attr & TokenAttributes.Byte) != 0) return [TokenToByte(text)];
        return [];
    }

    /// <summary>strtol(text.substr(3, 2), 16) as llama.cpp does for byte tokens.</summary>
    private static byte TokenToByte(string text)
    {
        int value = 0;
        for (int i = 3; i < Math.Min(5, text.Length); i++)
        {
            int d = HexDigit(text[i]);
            if (d < 0) break;
            value = value * 16 + d;
        }
        return (byte)value;
    }

    private static int HexDigit(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    private static byte[] ByteLevelDecode(string text)
    {
        var bytes = new List<byte>(text.Length);
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in text.EnumerateRunes())
        {
            if (ByteLevel.TryCharToByte(rune.Value, out byte b)) { bytes.Add(b); continue; }
            // llama.cpp's marker for a character outside the byte map.
            int n = rune.EncodeToUtf8(utf8);
            var sb = new StringBuilder("[UNK_BYTE_0x");
            for (int j = 0; j < n; j++) sb.Append(utf8[j].ToString("x2"));
            sb.Append(text).Append(']');
            bytes.AddRange(Encoding.UTF8.GetBytes(sb.ToString()));
        }
        return bytes.ToArray();
    }

    public byte[] DecodeBytes(IEnumerable<int> ids, bool special = false)
    {
        var ms = new MemoryStream();
        foreach (int id in ids) ms.Write(TokenBytes(id, special));
        return ms.ToArray();
    }

    public string Decode(IEnumerable<int> ids, bool special = false) => Encoding.UTF8.GetString(DecodeBytes(ids, special));

    /// <summary>
    /// llama.cpp's llama_detokenize: optionally drops a leading BOS / trailing EOS the vocabulary adds, strips the
    /// SentencePiece prefix space, and applies clean_up_tokenization_spaces where the vocabulary asks for it.
    /// </summary>
    public string Detokenize(IReadOnlyList<int> ids, bool removeSpecial, bool unparseSpecial)
    {
        int from = 0, to = ids.Count;
        bool removeSpace = _v.AddSpacePrefix;
        if (removeSpecial && _v.AddBos && to > from && ids[from] == _v.Bos) { removeSpace = false; from++; }
        if (removeSpecial && _v.AddEos && to > from && ids[to - 1] == _v.Eos) to--;
        var bytes = new List<byte>();
        for (int i = from; i < to; i++)
        {
            var piece = TokenBytes(ids[i], unparseSpecial);
            int skip = removeSpace && piece.Length > 0 && piece[0] == ' ' ? 1 : 0;
            removeSpace = false;
            for (int j = skip; j < piece.Length; j++) bytes.Add(piece[j]);
        }
        if (_v.CleanSpaces) CleanUpSpaces(bytes);
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static void CleanUpSpaces(List<byte> t)
    {
        // " ?", " !", " .", " ," lose the space
        var a = new List<byte>(t.Count);
        for (int i = 0; i < t.Count; i++)
        {
            byte x = t[i];
            if (i > 0 && t[i - 1] == ' ' && x is (byte)'?' or (byte)'!' or (byte)'.' or (byte)',' && a.Count > 0) a.RemoveAt(a.Count - 1);
            a.Add(x);
        }
        // " ' " loses both spaces
        var b = new List<byte>(a.Count);
        for (int i = 0; i < a.Count; i++)
        {
            byte x = a[i];
            if (i > 0 && x == '\'' && i + 1 < a.Count && a[i - 1] == ' ' && a[i + 1] == ' ')
            {
                b.RemoveAt(b.Count - 1);
                b.Add(x);
                i++;
                continue;
            }
            b.Add(x);
        }
        // " 's", " 'm", " 're", " 've" lose the space
        var c = new List<byte>(b.Count);
        for (int i = 0; i < b.Count; i++)
        {
            byte x = b[i];
            if (i > 0 && b[i - 1] == ' ' && x == '\'' && i + 1 < b.Count)
            {
                byte x1 = b[i + 1];
                bool drop = x1 is (byte)'s' or (byte)'m' ||
                            (i + 2 < b.Count && ((x1 == 'r' && b[i + 2] == 'e') || (x1 == 'v' && b[i + 2] == 'e')));
                if (drop && c.Count > 0) c.RemoveAt(c.Count - 1);
            }
            c.Add(x);
        }
        t.Clear();
        t.AddRange(c);
    }
}
