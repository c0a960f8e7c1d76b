using System.Globalization;

namespace Strata.Cli;

/// <summary>A usage error: printed as one line with a hint, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// Minimal, strict option parsing: "--name value", "--name=value", "-x value", flags, and positional arguments.
/// Unknown options and bad values are usage errors naming the option.
/// </summary>
public sealed class Args
{
    private readonly Dictionary<string, List<string?>> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    public List<string> Positional { get; } = new();

    /// <param name="flags">Option names that take no value.</param>
    /// <param name="aliases">Short name → long name.</param>
    public Args(IReadOnlyList<string> argv, ISet<string> flags, IReadOnlyDictionary<string, string> aliases)
    {
        for (int i = 0; i < argv.Count; i++)
        {
            string a = argv[i];
            if (a == "--")
            {
                Positional.AddRange(argv.Skip(i + 1));
                break;
            }
            if (a.Length > 1 && a[0] == '-' && !IsNumber(a))
            {
                string name = a;
                string? value = null;
                int eq = a.IndexOf('=');
                if (a.StartsWith("--") && eq > 0) { name = a[..eq]; value = a[(eq + 1)..]; }
                if (aliases.TryGetValue(name, out var longName)) name = longName;
                if (flags.Contains(name))
                {
                    if (value is not null) throw new UsageException($"option {name} takes no value");
                    Set(name, null);
                    continue;
                }
                if (value is null)
                {
                    if (i + 1 >= argv.Count) throw new UsageException($"option {name} needs a value");
                    value = argv[++i];
                }
                Set(name, value);
            }
            else Positional.Add(a);
        }
    }

    private void Set(string name, string? value)
    {
        if (!_options.TryGetValue(name, out var values)) _options[name] = values = new List<string?>();
        values.Add(value);
    }

    private static bool IsNumber(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    public bool Flag(string name) { _used.Add(name); return _options.ContainsKey(name); }

    /// <summary>The option's value; when it is given more than once, the last.</summary>
    public string? String(string name) { _used.Add(name); return _options.TryGetValue(name, out var v) ? v[^1] : null; }

    /// <summary>Every value of an option that may repeat, in order.</summary>
    public IReadOnlyList<string> All(string name)
    {
        _used.Add(name);
        return _options.TryGetValue(name, out var v) ? v.Select(x => x ?? "").ToArray() : [];
    }

    public int Int(string name, int fallback)
    {
        var s = String(name);
        if (s is null) return fallback;
        return int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : throw new UsageException($"{name} expects an integer, got '{s}'");
    }

    public float Float(string name, float fallback)
    {
        var s = String(name);
        if (s is null) return fallback;
        return float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) && float.IsFinite(v)
            ? v : throw new UsageException($"{name} expects a number, got '{s}'");
    }

    public ulong? ULong(string name)
    {
        var s = String(name);
        if (s is null) return null;
        if (ulong.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong v)) return v;
        if (long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long neg) && neg < 0) return null; // -1: random
        throw new UsageException($"{name} expects an integer, got '{s}'");
    }

    /// <summary>Parses "1,2,3" (spaces allowed).</summary>
    public int[]? Tokens(string name)
    {
        var s = String(name);
        if (s is null) return null;
        var parts = s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out ids[i]))
                throw new UsageException($"{name} expects comma-separated token ids, '{parts[i]}' is not one");
        return ids;
    }

    /// <summary>Fails on any option the command did not ask about.</summary>
    public void RejectUnknown(string command)
    {
        foreach (var name in _options.Keys)
            if (!_used.Contains(name)) throw new UsageException($"unknown option {name} for '{command}'");
    }
}
