namespace Strata.Grammar;

/// <summary>
/// Code-point sets as UTF-8 byte sequences, so a grammar over characters runs over bytes: a token that ends in the
/// middle of a character simply leaves the automaton between that character's bytes.
/// </summary>
internal static class Utf8Ranges
{
    public const int MaxCodePoint = 0x10FFFF;

    /// <summary>Sorted, merged ranges of a class; negation complements over all code points; surrogates are removed
    /// (they are not characters UTF-8 can encode).</summary>
    public static List<(int Lo, int Hi)> Normalize(IReadOnlyList<(int Lo, int Hi)> ranges, bool negated)
    {
        var sorted = ranges.Where(r => r.Lo <= r.Hi).OrderBy(r => r.Lo).ToList();
        var merged = new List<(int Lo, int Hi)>();
        foreach (var (lo, hi) in sorted)
        {
            if (merged.Count > 0 && lo <= merged[^1].Hi + 1) merged[^1] = (merged[^1].Lo, Math.Max(merged[^1].Hi, hi));
            else merged.Add((lo, hi));
        }
        if (negated)
        {
            var complement = new List<(int, int)>();
            int next = 0;
            foreach (var (lo, hi) in merged)
            {
                if (lo > next) complement.Add((next, lo - 1));
                next = hi + 1;
            }
            if (next <= MaxCodePoint) complement.Add((next, MaxCodePoint));
            merged = complement;
        }
        var result = new List<(int, int)>();
        foreach (var (lo, hi) in merged)
        {
            // Cut out U+D800–U+DFFF.
            if (hi < 0xD800 || lo > 0xDFFF) result.Add((lo, Math.Min(hi, MaxCodePoint)));
            else
            {
                if (lo < 0xD800) result.Add((lo, 0xD7FF));
                if (hi > 0xDFFF) result.Add((0xE000, Math.Min(hi, MaxCodePoint)));
            }
        }
        return result;
    }

    /// <summary>The byte-range sequences that encode exactly the code points lo..hi (no surrogates inside).</summary>
    public static List<(byte Lo, byte Hi)[]> Sequences(int lo, int hi)
    {
        var result = new List<(byte, byte)[]>();
        int[] limits = [0x7F, 0x7FF, 0xFFFF, MaxCodePoint];
        int start = 0;
        for (int n = 0; n < limits.Length; n++)
        {
            int a = Math.Max(lo, start), b = Math.Min(hi, limits[n]);
            if (a <= b) SameLength(a, b, n + 1, result);
            start = limits[n] + 1;
        }
        return result;
    }

    /// <summary>Splits lo..hi (all of one encoded length) until every continuation byte spans an aligned block, then
    /// pairs the bytes of lo and hi position by position.</summary>
    private static void SameLength(int lo, int hi, int length, List<(byte, byte)[]> result)
    {
        for (int i = 1; i < length; i++)
        {
            int m = (1 << (6 * i)) - 1;
            if ((lo & ~m) == (hi & ~m)) continue;
            if ((lo & m) != 0)
            {
                SameLength(lo, lo | m, length, result);
                SameLength((lo | m) + 1, hi, length, result);
                return;
            }
            if ((hi & m) != m)
            {
                SameLength(lo, (hi & ~m) - 1, length, result);
                SameLength(hi & ~m, hi, length, result);
                return;
            }
        }
        Span<byte> a = stackalloc byte[4], b = stackalloc byte[4];
        Encode(lo, a);
        Encode(hi, b);
        var seq = new (byte, byte)[length];
        for (int i = 0; i < length; i++) seq[i] = (a[i], b[i]);
        result.Add(seq);
    }

    public static int Encode(int c, Span<byte> dst)
    {
        if (c < 0x80) { dst[0] = (byte)c; return 1; }
        if (c < 0x800) { dst[0] = (byte)(0xC0 | (c >> 6)); dst[1] = (byte)(0x80 | (c & 0x3F)); return 2; }
        if (c < 0x10000)
        {
            dst[0] = (byte)(0xE0 | (c >> 12)); dst[1] = (byte)(0x80 | ((c >> 6) & 0x3F)); dst[2] = (byte)(0x80 | (c & 0x3F));
            return 3;
        }
        dst[0] = (byte)(0xF0 | (c >> 18)); dst[1] = (byte)(0x80 | ((c >> 12) & 0x3F));
        dst[2] = (byte)(0x80 | ((c >> 6) & 0x3F)); dst[3] = (byte)(0x80 | (c & 0x3F));
        return 4;
    }
}
