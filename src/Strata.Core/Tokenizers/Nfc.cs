using System.Text;

namespace Strata.Tokenizers;

/// <summary>
/// Unicode Normalization Form C (UAX #15): canonical decomposition, canonical reordering, canonical composition.
/// Strata's own, because string.Normalize is a no-op under InvariantGlobalization (no ICU). Tables: NfcData.cs.
/// </summary>
internal static partial class Nfc
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    /// <summary>Lookups built from the generated arrays; a nested class so that they are built after those arrays
    /// (the order of static initializers across the two partial files is not defined).</summary>
    private static class Derived
    {
        public static readonly Dictionary<long, int> Compositions = BuildCompositions();
        /// <summary>BMP code points that may change under NFC or in their neighbours' company: a combining class, a
        /// decomposition, or a role as the second half of a composition (Hangul vowels and trailing consonants included).</summary>
        public static readonly bool[] BmpNeedsWork = BuildBmpNeedsWork();
        public static readonly HashSet<int> SecondHalves = [.. Enumerable.Range(0, CompositionTriples.Length / 3).Select(i => CompositionTriples[3 * i + 1])];

        private static Dictionary<long, int> BuildCompositions()
        {
            var d = new Dictionary<long, int>(CompositionTriples.Length / 3);
            for (int i = 0; i < CompositionTriples.Length; i += 3)
                d[((long)CompositionTriples[i] << 21) | (uint)CompositionTriples[i + 1]] = CompositionTriples[i + 2];
            return d;
        }

        private static bool[] BuildBmpNeedsWork()
        {
            var t = new bool[0x10000];
            foreach (int cp in CccCodePoints) if (cp < 0x10000) t[cp] = true;
            foreach (int cp in DecomposedCodePoints) if (cp < 0x10000) t[cp] = true;
            for (int i = 1; i < CompositionTriples.Length; i += 3) if (CompositionTriples[i] < 0x10000) t[CompositionTriples[i]] = true;
            for (int cp = VBase; cp < VBase + VCount; cp++) t[cp] = true;
            for (int cp = TBase + 1; cp < TBase + TCount; cp++) t[cp] = true;
            return t;
        }
    }

    public static int CombiningClass(int cp)
    {
        int i = Array.BinarySearch(CccCodePoints, cp);
        return i >= 0 ? CccValues[i] : 0;
    }

    /// <summary>True when no code point in <paramref name="text"/> can change under NFC (a conservative quick check).</summary>
    public static bool IsQuickNormalized(ReadOnlySpan<char> text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c < 0x300) continue;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                int cp = char.ConvertToUtf32(c, text[++i]);
                if (CombiningClass(cp) != 0 || Array.BinarySearch(DecomposedCodePoints, cp) >= 0 || Derived.SecondHalves.Contains(cp)) return false;
            }
            else if (Derived.BmpNeedsWork[c]) return false;
        }
        return true;
    }

    /// <summary>The NFC form of <paramref name="text"/> (the same string when it is already in NFC).</summary>
    public static string Normalize(string text)
    {
        if (IsQuickNormalized(text)) return text;
        var cps = new List<int>(text.Length + 8);
        // Decompose.
        for (int i = 0; i < text.Length; i++)
        {
            int cp = text[i];
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) cp = char.ConvertToUtf32(text[i], text[++i]);
            Decompose(cp, cps);
        }
        // Reorder: a stable sort of each run of non-starters by combining class.
        for (int i = 1; i < cps.Count; i++)
        {
            int cc = CombiningClass(cps[i]);
            if (cc == 0) continue;
            int j = i;
            while (j > 0 && CombiningClass(cps[j - 1]) > cc) { (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]); j--; }
        }
        // Compose: each character joins the last starter unless a character between them blocks it.
        int starter = -1, write = 0, lastCc = -1;
        for (int read = 0; read < cps.Count; read++)
        {
            int cp = cps[read], cc = CombiningClass(cp);
            if (starter >= 0 && (lastCc < cc || (lastCc == 0 && write == starter + 1)) && TryCompose(cps[starter], cp, out int composite))
            {
                cps[starter] = composite;
                continue;
            }
            if (cc == 0) { starter = write; lastCc = 0; }
            else lastCc = cc;
            cps[write++] = cp;
        }
        var sb = new StringBuilder(write + 8);
        Span<char> utf16 = stackalloc char[2];
        for (int i = 0; i < write; i++) sb.Append(utf16[..new Rune(cps[i]).EncodeToUtf16(utf16)]);
        return sb.ToString();
    }

    private static void Decompose(int cp, List<int> output)
    {
        int s = cp - SBase;
        if ((uint)s < SCount)
        {
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) output.Add(TBase + s % TCount);
            return;
        }
        int i = Array.BinarySearch(DecomposedCodePoints, cp);
        if (i < 0) { output.Add(cp); return; }
        for (int k = DecompositionOffsets[i]; k < DecompositionOffsets[i + 1]; k++) output.Add(DecompositionData[k]);
    }

    private static bool TryCompose(int first, int second, out int composite)
    {
        int l = first - LBase, v = second - VBase;
        if ((uint)l < LCount && (uint)v < VCount) { composite = SBase + (l * VCount + v) * TCount; return true; }
        int s = first - SBase, t = second - TBase;
        if ((uint)s < SCount && s % TCount == 0 && t > 0 && t < TCount) { composite = first + t; return true; }
        return Derived.Compositions.TryGetValue(((long)first << 21) | (uint)second, out composite);
    }
}
