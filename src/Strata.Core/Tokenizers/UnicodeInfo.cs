using System.Globalization;

namespace Strata.Tokenizers;

/// <summary>Code point classification used by the pre-tokenizers (the Unicode general categories and White_Space).</summary>
internal static class UnicodeInfo
{
    // Bits of the per-code-point flags.
    public const byte Letter = 1, Number = 2, Whitespace = 4, Punctuation = 8, Symbol = 16, Mark = 32;

    private static readonly byte[] Bmp = BuildBmp();

    private static byte[] BuildBmp()
    {
        var t = new byte[0x10000];
        for (int c = 0; c < t.Length; c++) t[c] = Compute(c);
        return t;
    }

    private static byte Compute(int cp)
    {
        if (cp is >= 0xD800 and <= 0xDFFF) return 0;
        byte f = cp switch
        {
            (>= 0x09 and <= 0x0D) or 0x20 or 0x85 or 0xA0 or 0x1680 or (>= 0x2000 and <= 0x200A)
                or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => Whitespace,
            _ => 0,
        };
        switch (CharUnicodeInfo.GetUnicodeCategory(cp))
        {
            case UnicodeCategory.UppercaseLetter:
            case UnicodeCategory.LowercaseLetter:
            case UnicodeCategory.TitlecaseLetter:
            case UnicodeCategory.ModifierLetter:
            case UnicodeCategory.OtherLetter:
                f |= Letter; break;
            case UnicodeCategory.DecimalDigitNumber:
            case UnicodeCategory.LetterNumber:
            case UnicodeCategory.OtherNumber:
                f |= Number; break;
            case UnicodeCategory.ConnectorPunctuation:
            case UnicodeCategory.DashPunctuation:
            case UnicodeCategory.OpenPunctuation:
            case UnicodeCategory.ClosePunctuation:
            case UnicodeCategory.InitialQuotePunctuation:
            case UnicodeCategory.FinalQuotePunctuation:
            case UnicodeCategory.OtherPunctuation:
                f |= Punctuation; break;
            case UnicodeCategory.MathSymbol:
            case UnicodeCategory.CurrencySymbol:
            case UnicodeCategory.ModifierSymbol:
            case UnicodeCategory.OtherSymbol:
                f |= Symbol; break;
            case UnicodeCategory.NonSpacingMark:
            case UnicodeCategory.SpacingCombiningMark:
            case UnicodeCategory.EnclosingMark:
                f |= Mark; break;
        }
        return f;
    }

    public static byte Flags(int cp) => (uint)cp < 0x10000 ? Bmp[cp] : (cp <= 0x10FFFF ? Compute(cp) : (byte)0);

    public static bool IsLetter(int cp) => (Flags(cp) & Letter) != 0;
    public static bool IsNumber(int cp) => (Flags(cp) & Number) != 0;
    public static bool IsWhitespace(int cp) => (Flags(cp) & Whitespace) != 0;

    /// <summary>Splits a string into code points (a lone surrogate becomes U+FFFD, as UTF-8 encoding would make it).</summary>
    public static int[] CodePoints(ReadOnlySpan<char> s)
    {
        var result = new int[s.Length];
        int n = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                result[n++] = char.ConvertToUtf32(c, s[i + 1]);
                i++;
            }
            else result[n++] = char.IsSurrogate(c) ? 0xFFFD : c;
        }
        return n == result.Length ? result : result.AsSpan(0, n).ToArray();
    }
}

/// <summary>GPT-2's reversible byte ↔ printable-character mapping used by byte-level BPE vocabularies.</summary>
internal static class ByteLevel
{
    public static readonly char[] ByteToChar = new char[256];
    private static readonly Dictionary<char, byte> CharToByteMap = new();

    static ByteLevel()
    {
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool direct = b is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            ByteToChar[b] = direct ? (char)b : (char)(256 + n++);
            CharToByteMap[ByteToChar[b]] = (byte)b;
        }
    }

    public static bool TryCharToByte(int cp, out byte b)
    {
        b = 0;
        return cp < 0x10000 && CharToByteMap.TryGetValue((char)cp, out b);
    }
}
