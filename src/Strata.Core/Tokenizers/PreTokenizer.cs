namespace Strata.Tokenizers;

/// <summary>The regex-style word splitting applied before byte-level BPE, chosen by <c>tokenizer.ggml.pre</c>.</summary>
public enum PreTokenizerKind
{
    /// <summary>llama.cpp's fallback: punctuation runs, the GPT-2 rules, digit runs, then groups of three ASCII digits.</summary>
    Default,

    /// <summary>GPT-2: <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>.</summary>
    Gpt2,

    /// <summary>Llama 3: case-insensitive contractions, letters with one leading non-letter, digits in groups of up to three.</summary>
    Llama3,

    /// <summary>Qwen2: the Llama 3 rules with single digits.</summary>
    Qwen2,

    /// <summary>StarCoder / SmolLM: every digit on its own, then the GPT-2 rules.</summary>
    SmolLm,
}

/// <summary>
/// Hand-written equivalents of llama.cpp's pre-tokenizer regexes (its unicode.cpp custom splitters and the std::regex
/// fallbacks), run over code points. Splitting is done in stages; each stage re-splits the pieces of the previous one.
/// </summary>
internal static class PreTokenizer
{
    /// <summary>Splits <paramref name="cps"/> into words; returns the word lengths (in code points), in order.</summary>
    public static List<int> Split(PreTokenizerKind kind, int[] cps)
    {
        var pieces = new List<int>(cps.Length / 3 + 1);
        if (cps.Length == 0) return pieces;
        pieces.Add(cps.Length);
        switch (kind)
        {
            case PreTokenizerKind.Gpt2:
                pieces = Stage(cps, pieces, Gpt2);
                break;
            case PreTokenizerKind.Llama3:
                pieces = Stage(cps, pieces, (c, s, e, o) => Llama3Like(c, s, e, o, 3));
                break;
            case PreTokenizerKind.Qwen2:
                pieces = Stage(cps, pieces, (c, s, e, o) => Llama3Like(c, s, e, o, 1));
                break;
            case PreTokenizerKind.SmolLm:
                pieces = Stage(cps, pieces, (c, s, e, o) => Runs(c, s, e, o, cp => UnicodeInfo.IsNumber(cp), single: true));
                pieces = Stage(cps, pieces, Gpt2);
                break;
            default:
                pieces = Stage(cps, pieces, (c, s, e, o) => Runs(c, s, e, o, IsDefaultPunct, single: false));
                pieces = Stage(cps, pieces, Gpt2);
                pieces = Stage(cps, pieces, (c, s, e, o) => Runs(c, s, e, o, cp => UnicodeInfo.IsNumber(cp), single: false));
                pieces = Stage(cps, pieces, AsciiDigitTriples);
                break;
        }
        return pieces;
    }

    private delegate void Splitter(int[] cps, int start, int end, List<int> output);

    private static List<int> Stage(int[] cps, List<int> pieces, Splitter splitter)
    {
        var output = new List<int>(pieces.Count * 2);
        int start = 0;
        foreach (int len in pieces)
        {
            splitter(cps, start, start + len, output);
            start += len;
        }
        return output;
    }

    // [\p{P}\$\+<=>\^~\|] as llama.cpp's collapsed std::regex sees it: non-ASCII punctuation plus a fixed ASCII set
    // (note: no backtick).
    private static bool IsDefaultPunct(int cp) =>
        cp < 128 ? "!\"#%&'()*,-./:;?@[\\]_{}$+<=>^~|".Contains((char)cp) : (UnicodeInfo.Flags(cp) & UnicodeInfo.Punctuation) != 0;

    /// <summary>A std::regex of the form <c>[class]+</c> (or <c>[class]</c>): matches and the text between them become pieces.</summary>
    private static void Runs(int[] cps, int start, int end, List<int> output, Func<int, bool> inClass, bool single)
    {
        int prev = start, pos = start;
        while (pos < end)
        {
            if (!inClass(cps[pos])) { pos++; continue; }
            if (pos > prev) output.Add(pos - prev);
            int m = pos + 1;
            if (!single) while (m < end && inClass(cps[m])) m++;
            output.Add(m - pos);
            prev = pos = m;
        }
        if (end > prev) output.Add(end - prev);
    }

    /// <summary>The std::regex <c>[0-9][0-9][0-9]</c>: leftmost non-overlapping triples of ASCII digits.</summary>
    private static void AsciiDigitTriples(int[] cps, int start, int end, List<int> output)
    {
        static bool D(int c) => c is >= '0' and <= '9';
        int prev = start, pos = start;
        while (pos < end)
        {
            if (pos + 2 < end && D(cps[pos]) && D(cps[pos + 1]) && D(cps[pos + 2]))
            {
                if (pos > prev) output.Add(pos - prev);
                output.Add(3);
                prev = pos = pos + 3;
            }
            else pos++;
        }
        if (end > prev) output.Add(end - prev);
    }

    private const int OutOfRange = -1;

    private static void Gpt2(int[] cps, int start, int end, List<int> output)
    {
        int Cpt(int p) => p >= start && p < end ? cps[p] : OutOfRange;
        byte Fl(int p) => p >= start && p < end ? UnicodeInfo.Flags(cps[p]) : (byte)0;
        const byte Lt = UnicodeInfo.Letter, Nm = UnicodeInfo.Number, Ws = UnicodeInfo.Whitespace;

        int prevEnd = start;
        void Add(int e) { if (e > prevEnd) output.Add(e - prevEnd); prevEnd = e; }

        int pos = start;
        while (pos < end)
        {
            int cpt = Cpt(pos);
            // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive)
            if (cpt == '\'' && pos + 1 < end)
            {
                int n1 = Cpt(pos + 1);
                if (n1 is 's' or 't' or 'm' or 'd') { Add(pos + 2); pos += 2; continue; }
                if (pos + 2 < end)
                {
                    int n2 = Cpt(pos + 2);
                    if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) { Add(pos + 3); pos += 3; continue; }
                }
            }
            int lead = cpt == ' ' ? 1 : 0;
            byte f2 = Fl(pos + lead);
            // <space>?\p{L}+ / <space>?\p{N}+ / <space>?[^\s\p{L}\p{N}]+
            if ((f2 & Lt) != 0 || (f2 & Nm) != 0 || ((f2 & (Ws | Lt | Nm)) == 0 && pos + lead < end))
            {
                pos += lead;
                if ((f2 & Lt) != 0) while ((Fl(pos) & Lt) != 0) pos++;
                else if ((f2 & Nm) != 0) while ((Fl(pos) & Nm) != 0) pos++;
                else while (pos < end && (Fl(pos) & (Ws | Lt | Nm)) == 0) pos++;
                Add(pos);
                continue;
            }
            int ws = 0;
            while ((Fl(pos + ws) & Ws) != 0) ws++;
            // \s+(?!\S)
            if (ws > 1 && Cpt(pos + ws) != OutOfRange) { pos += ws - 1; Add(pos); continue; }
            // \s+
            if (ws > 0) { pos += ws; Add(pos); continue; }
            Add(++pos);
        }
    }

    private static void Llama3Like(int[] cps, int start, int end, List<int> output, int maxDigits)
    {
        int Cpt(int p) => p >= start && p < end ? cps[p] : OutOfRange;
        byte Fl(int p) => p >= start && p < end ? UnicodeInfo.Flags(cps[p]) : (byte)0;
        const byte Lt = UnicodeInfo.Letter, Nm = UnicodeInfo.Number, Ws = UnicodeInfo.Whitespace;
        static int Lower(int c) => c is >= 'A' and <= 'Z' ? c + 32 : c;

        int prevEnd = start;
        void Add(int e) { if (e > prevEnd) output.Add(e - prevEnd); prevEnd = e; }

        int pos = start;
        while (pos < end)
        {
            int cpt = Cpt(pos);
            byte flags = Fl(pos);
            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if (cpt == '\'' && pos + 1 < end)
            {
                int n1 = Lower(Cpt(pos + 1));
                if (n1 is 's' or 't' or 'm' or 'd') { Add(pos + 2); pos += 2; continue; }
                if (pos + 2 < end)
                {
                    int n2 = Lower(Cpt(pos + 2));
                    if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) { Add(pos + 3); pos += 3; continue; }
                }
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if (!(cpt == '\r' || cpt == '\n' || (flags & Nm) != 0) && ((flags & Lt) != 0 || (Fl(pos + 1) & Lt) != 0))
            {
                pos++;
                while ((Fl(pos) & Lt) != 0) pos++;
                Add(pos);
                continue;
            }
            // \p{N}{1,maxDigits}
            if ((flags & Nm) != 0)
            {
                int ini = pos;
                while ((Fl(pos) & Nm) != 0)
                {
                    if (++pos - ini >= maxDigits) { Add(pos); ini = pos; }
                }
                Add(pos);
                continue;
            }
            // <space>?[^\s\p{L}\p{N}]+[\r\n]*
            byte f2 = cpt == ' ' ? Fl(pos + 1) : flags;
            if ((f2 & (Ws | Lt | Nm)) == 0 && pos + (cpt == ' ' ? 1 : 0) < end)
            {
                if (cpt == ' ') pos++;
                while (pos < end && (Fl(pos) & (Ws | Lt | Nm)) == 0) pos++;
                while (Cpt(pos) is '\r' or '\n') pos++;
                Add(pos);
                continue;
            }
            int ws = 0, lastNl = 0;
            while ((Fl(pos + ws) & Ws) != 0)
            {
                if (Cpt(pos + ws) is '\r' or '\n') lastNl = pos + ws + 1;
                ws++;
            }
            // \s*[\r\n]+
            if (lastNl > 0) { pos = lastNl; Add(pos); continue; }
            // \s+(?!\S)
            if (ws > 1 && Cpt(pos + ws) != OutOfRange) { pos += ws - 1; Add(pos); continue; }
            // \s+
            if (ws > 0) { pos += ws; Add(pos); continue; }
            Add(++pos);
        }
    }
}
