using System.Globalization;

namespace Strata.Grammar;

/// <summary>
/// GBNF for JSON numbers within bounds: integers exactly (digit by digit, no leading zeros), and decimals whose whole
/// unit interval lies inside the bounds (so 0.5 is allowed under <c>minimum: 0</c>, but under <c>minimum: 0.3</c> the
/// fractions start at 1.x — a narrower language, never a wider one). Integers have at most 18 digits.
/// </summary>
internal static class NumberRanges
{
    public const long Limit = 999_999_999_999_999_999;   // 18 digits
    private const string Fraction = "\".\" [0-9]{0,15} [1-9]";  // no trailing zero, so the fraction is never 0

    /// <summary>Integers in [lo, hi]; null is unbounded. Null when the range is empty.</summary>
    public static string? Integers(long? lo, long? hi)
    {
        lo = lo is { } a ? Math.Max(a, -Limit) : null;
        hi = hi is { } b ? Math.Min(b, Limit) : null;
        if (lo is { } l && hi is { } h && l > h) return null;
        var parts = new List<string>();
        // Negative part: -x for x in [max(1, -hi), -lo].
        if (lo is null || lo < 0)
        {
            long from = hi is { } h2 && h2 < 0 ? -h2 : 1;
            long? to = lo is { } l2 ? -l2 : null;
            if (NonNegative(from, to) is { } neg) parts.Add("\"-\" " + Wrap(neg));
        }
        if (hi is null || hi >= 0)
        {
            long from = lo is { } l3 && l3 > 0 ? l3 : 0;
            if (NonNegative(from, hi) is { } pos) parts.Add(pos);
        }
        return parts.Count == 0 ? null : string.Join(" | ", parts);
    }

    /// <summary>Numbers (integers and decimals without exponent) within the bounds; null when none fit.</summary>
    public static string? Numbers(double? min, bool minExclusive, double? max, bool maxExclusive)
    {
        // Integers strictly or inclusively inside.
        long? intLo = min is { } m ? Clamp(minExclusive ? Math.Floor(m) + 1 : Math.Ceiling(m)) : null;
        long? intHi = max is { } x ? Clamp(maxExclusive ? Math.Ceiling(x) - 1 : Math.Floor(x)) : null;
        var parts = new List<string>();
        if (Integers(intLo, intHi) is { } ints) parts.Add(ints);
        // I.f (f > 0) lies in (I, I + 1): inside when I >= min and I + 1 <= max.
        long posLo = min is { } m2 ? Math.Max(0, Clamp(Math.Ceiling(m2))) : 0;
        long? posHi = max is { } x2 ? Clamp(Math.Floor(x2) - 1) : null;
        if (posHi is null || posHi >= posLo)
            if (NonNegative(posLo, posHi) is { } pos) parts.Add(Wrap(pos) + " " + Fraction);
        // -(I.f) lies in (-(I + 1), -I): inside when -(I + 1) >= min and -I <= max.
        long negLo = max is { } x3 ? Math.Max(0, Clamp(Math.Ceiling(-x3))) : 0;
        long? negHi = min is { } m3 ? Clamp(Math.Floor(-m3) - 1) : null;
        if (negHi is null || negHi >= negLo)
            if (NonNegative(negLo, negHi) is { } neg) parts.Add("\"-\" " + Wrap(neg) + " " + Fraction);
        return parts.Count == 0 ? null : string.Join(" | ", parts);
    }

    private static long Clamp(double d) => d >= Limit ? Limit : d <= -Limit ? -Limit : (long)d;

    private static string Wrap(string alternatives) => alternatives.Contains('|') ? "(" + alternatives + ")" : alternatives;

    /// <summary>Decimal integers in [lo, hi] (lo ≥ 0; hi null: up to 18 digits) without leading zeros.</summary>
    public static string? NonNegative(long lo, long? hi)
    {
        if (lo < 0) lo = 0;
        long top = Math.Min(hi ?? Limit, Limit);
        if (lo > top) return null;
        var parts = new List<string>();
        int la = Digits(lo);
        if (hi is null)
        {
            // The rest of lo's length, then every longer length at once.
            parts.Add(SameLength(Str(lo), new string('9', la)));
            if (la < 18) parts.Add($"[1-9] [0-9]{{{la},17}}");
            return string.Join(" | ", parts);
        }
        int lb = Digits(top);
        for (int len = la; len <= lb; len++)
            parts.Add(SameLength(Str(len == la ? lo : Pow10(len - 1)), Str(len == lb ? top : Pow10(len) - 1)));
        return string.Join(" | ", parts);
    }

    private static string Str(long n) => n.ToString(CultureInfo.InvariantCulture);

    /// <summary>All numbers between two digit strings of the same length.</summary>
    private static string SameLength(string x, string y)
    {
        if (x == y) return "\"" + x + "\"";
        if (x.Length == 1) return $"[{x[0]}-{y[0]}]";
        if (x[0] == y[0]) return $"\"{x[0]}\" " + Wrap(SameLength(x[1..], y[1..]));
        var parts = new List<string>();
        char midLo = x[0], midHi = y[0];
        string restX = x[1..], restY = y[1..];
        if (restX.Any(c => c != '0'))
        {
            parts.Add($"\"{x[0]}\" " + Wrap(SameLength(restX, new string('9', restX.Length))));
            midLo++;
        }
        bool yFull = restY.All(c => c == '9');
        if (!yFull) midHi--;
        if (midLo <= midHi) parts.Add((midLo == midHi ? $"\"{midLo}\"" : $"[{midLo}-{midHi}]") + $" [0-9]{{{restX.Length}}}");
        if (!yFull) parts.Add($"\"{y[0]}\" " + Wrap(SameLength(new string('0', restY.Length), restY)));
        return string.Join(" | ", parts);
    }

    private static int Digits(long n) => Str(n).Length;

    private static long Pow10(int e)
    {
        long r = 1;
        for (int i = 0; i < e; i++) r *= 10;
        return r;
    }
}
