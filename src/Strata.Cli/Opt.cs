using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Strata.Cli;

/// <summary>
/// Typed options and arguments whose values the parser checks (number format, range, allowed values, existing
/// paths), so a bad value is a parse error with a message in Strata's words ("--threads must be between 0 and 1024,
/// got 5000") rather than a type name.
/// </summary>
internal static class Opt
{
    public static Option<int> Int(string name, string[] aliases, string description, int defaultValue, int min, int max, string helpName = "N") =>
        new(name, aliases)
        {
            Description = description,
            HelpName = helpName,
            DefaultValueFactory = _ => defaultValue,
            CustomParser = r => Parse(r, name, defaultValue, s => int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) ? v : null,
                v => v >= min && v <= max, $"between {min} and {max}", "an integer"),
        };

    /// <param name="valid">Which values are allowed; <paramref name="range"/> says it in words ("in (0, 1]").</param>
    public static Option<float> Float(string name, string[] aliases, string description, float defaultValue, Func<float, bool> valid, string range, string helpName = "X") =>
        new(name, aliases)
        {
            Description = description,
            HelpName = helpName,
            DefaultValueFactory = _ => defaultValue,
            CustomParser = r => Parse(r, name, defaultValue,
                s => float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) && float.IsFinite(v) ? v : null,
                valid, range, "a number"),
        };

    /// <summary>
    /// An unsigned seed; a negative number (the usual -1) draws a random one, and so should the caller when the option
    /// is left out (no default here: help would print a random number). Not <c>Option&lt;ulong?&gt;</c>:
    /// System.CommandLine 3.0 fails to cast a custom parser's value to a nullable.
    /// </summary>
    public static Option<ulong> Seed(string name, string[] aliases, string description) =>
        new(name, aliases)
        {
            Description = description,
            HelpName = "N",
            CustomParser = r =>
            {
                string s = Last(r);
                if (ulong.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong v)) return v;
                if (long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long neg) && neg < 0) return RandomSeed();
                r.AddError($"{name} expects an integer, got '{s}'");
                return 0;
            },
        };

    public static ulong RandomSeed() => (ulong)Random.Shared.NextInt64();

    /// <summary>Comma-separated token ids ("1,2,3", spaces allowed).</summary>
    public static Option<int[]?> TokenIds(string name, string description) =>
        new(name)
        {
            Description = description,
            HelpName = "1,2,3",
            CustomParser = r =>
            {
                var parts = Last(r).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length == 0) { r.AddError($"{name} is empty"); return null; }
                var ids = new int[parts.Length];
                for (int i = 0; i < parts.Length; i++)
                    if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out ids[i]))
                    {
                        r.AddError($"{name} expects comma-separated token ids, '{parts[i]}' is not one");
                        return null;
                    }
                return ids;
            },
        };

    /// <summary>A string option restricted to <paramref name="allowed"/> (any case); completions list them.</summary>
    public static Option<string> OneOf(string name, string[] aliases, string description, string defaultValue, IReadOnlyCollection<string> allowed)
    {
        var o = new Option<string>(name, aliases) { Description = description, HelpName = string.Join('|', allowed), DefaultValueFactory = _ => defaultValue };
        o.Validators.Add(r =>
        {
            string v = r.GetValueOrDefault<string>();
            if (!allowed.Contains(v, StringComparer.OrdinalIgnoreCase)) r.AddError($"{name} must be one of {string.Join(", ", allowed)}, got '{v}'");
        });
        o.CompletionSources.Add(allowed.ToArray());
        return o;
    }

    /// <summary>Fails the parse when the path names no file (or a directory): "PATH: no such file".</summary>
    public static T ExistingFile<T>(this T symbol) where T : Symbol
    {
        Action<SymbolResult> check = r =>
        {
            foreach (var t in r.Tokens)
            {
                if (Directory.Exists(t.Value)) r.AddError($"{t.Value}: is a directory, not a file");
                else if (!File.Exists(t.Value)) r.AddError($"{t.Value}: no such file");
            }
        };
        if (symbol is Option o) o.Validators.Add(r => check(r));
        else if (symbol is Argument a) a.Validators.Add(r => check(r));
        return symbol;
    }

    /// <summary>Fails the parse when the path names no directory: "PATH: no such directory".</summary>
    public static Argument<string> ExistingDirectory(this Argument<string> argument, string what)
    {
        argument.Validators.Add(r =>
        {
            foreach (var t in r.Tokens)
                if (!Directory.Exists(t.Value)) r.AddError($"{t.Value}: no such directory (expected {what})");
        });
        return argument;
    }

    private static string Last(ArgumentResult r) => r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";

    private static T Parse<T>(ArgumentResult r, string name, T fallback, Func<string, T?> parse, Func<T, bool> inRange, string range, string kind) where T : struct
    {
        string s = Last(r);
        if (parse(s) is not T v) { r.AddError($"{name} expects {kind}, got '{s}'"); return fallback; }
        if (!inRange(v)) { r.AddError($"{name} must be {range}, got {s}"); return fallback; }
        return v;
    }
}
