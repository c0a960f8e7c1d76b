namespace Strata.Grammar;

/// <summary>GBNF for the content of strings of the common JSON Schema <c>format</c>s (RFC 3339 dates and times, RFC
/// 4122 UUIDs, simple e-mail addresses, IPv4 addresses and host names). None contains a character JSON escapes.</summary>
internal static class StringFormats
{
    // Days per month as RFC 3339 counts them; 29 February only in leap years (divisible by 4, centuries by 400).
    private const string Day28 = "(\"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8])";
    private const string Day30 = "(\"0\" [1-9] | [12] [0-9] | \"30\")";
    private const string Day31 = "(\"0\" [1-9] | [12] [0-9] | \"3\" [01])";
    private const string LeapYear = "([0-9] [0-9] (\"0\" [48] | [2468] [048] | [13579] [26]) | ([02468] [048] | [13579] [26]) \"00\")";
    private const string Date = "([0-9]{4} \"-\" ((\"0\" [13578] | \"1\" [02]) \"-\" " + Day31 + " | (\"0\" [469] | \"11\") \"-\" " + Day30
        + " | \"02-\" " + Day28 + ") | " + LeapYear + " \"-02-29\")";
    private const string Time = "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,6})? (\"Z\" | [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])";
    private const string Hex = "[0-9a-fA-F]";
    private const string Label = "[a-zA-Z0-9] ([a-zA-Z0-9-]{0,61} [a-zA-Z0-9])?";
    private const string Octet = "(\"25\" [0-5] | \"2\" [0-4] [0-9] | \"1\" [0-9] [0-9] | [1-9] [0-9] | [0-9])";

    public static readonly IReadOnlyDictionary<string, string> Content = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["date"] = Date,
        ["time"] = Time,
        ["date-time"] = $"{Date} [Tt] {Time}",
        ["uuid"] = $"{Hex}{{8}} \"-\" {Hex}{{4}} \"-\" {Hex}{{4}} \"-\" {Hex}{{4}} \"-\" {Hex}{{12}}",
        ["email"] = $"[a-zA-Z0-9_%+-] ([a-zA-Z0-9._%+-]{{0,62}} [a-zA-Z0-9_%+-])? \"@\" ({Label} \".\"){{1,4}} [a-zA-Z]{{2,24}}",
        ["ipv4"] = $"{Octet} \".\" {Octet} \".\" {Octet} \".\" {Octet}",
        ["hostname"] = $"{Label} (\".\" {Label}){{0,8}}",
    };
}
