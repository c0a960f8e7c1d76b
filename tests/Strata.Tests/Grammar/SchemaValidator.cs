using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Strata.Tests.Grammar;

/// <summary>
/// A small JSON Schema validator for the tests (written here, independent of the grammar compiler): the keywords the
/// tests' schemas use, with JSON Schema's meaning. Returns the first violation found, or null.
/// </summary>
public static class SchemaValidator
{
    public static string? Validate(string schemaJson, string instanceJson)
    {
        using var schema = JsonDocument.Parse(schemaJson);
        JsonDocument instance;
        try { instance = JsonDocument.Parse(instanceJson); }
        catch (JsonException e) { return "not JSON: " + e.Message; }
        using (instance) return Check(schema.RootElement, schema.RootElement, instance.RootElement, "$");
    }

    private static string? Check(JsonElement root, JsonElement s, JsonElement v, string at)
    {
        if (s.ValueKind == JsonValueKind.True) return null;
        if (s.ValueKind == JsonValueKind.False) return $"{at}: schema false";
        if (s.TryGetProperty("$ref", out var r))
        {
            var target = root;
            foreach (var seg in r.GetString()!.TrimStart('#').Split('/', StringSplitOptions.RemoveEmptyEntries)) target = target.GetProperty(seg.Replace("~1", "/").Replace("~0", "~"));
            if (Check(root, target, v, at) is { } e) return e;
        }
        if (s.TryGetProperty("const", out var c) && !Same(c, v)) return $"{at}: not the const {c.GetRawText()}";
        if (s.TryGetProperty("enum", out var en) && !en.EnumerateArray().Any(x => Same(x, v))) return $"{at}: {v.GetRawText()} not in enum";
        if (s.TryGetProperty("anyOf", out var any) && !any.EnumerateArray().Any(x => Check(root, x, v, at) is null)) return $"{at}: no anyOf branch matches";
        if (s.TryGetProperty("oneOf", out var one) && one.EnumerateArray().Count(x => Check(root, x, v, at) is null) != 1) return $"{at}: not exactly one oneOf branch";
        if (s.TryGetProperty("allOf", out var all))
            foreach (var x in all.EnumerateArray())
                if (Check(root, x, v, at) is { } e) return e;
        if (s.TryGetProperty("type", out var t))
        {
            var types = t.ValueKind == JsonValueKind.Array ? t.EnumerateArray().Select(x => x.GetString()!).ToArray() : [t.GetString()!];
            if (!types.Any(ty => IsType(v, ty))) return $"{at}: {v.GetRawText()} is not {string.Join("/", types)}";
        }
        switch (v.ValueKind)
        {
            case JsonValueKind.Object:
            {
                var props = s.TryGetProperty("properties", out var ps) ? ps : default;
                if (s.TryGetProperty("required", out var req))
                    foreach (var name in req.EnumerateArray())
                        if (!v.TryGetProperty(name.GetString()!, out _)) return $"{at}: missing required '{name.GetString()}'";
                var seen = new HashSet<string>();
                foreach (var p in v.EnumerateObject())
                {
                    if (!seen.Add(p.Name)) return $"{at}: duplicate key '{p.Name}'";
                    if (props.ValueKind == JsonValueKind.Object && props.TryGetProperty(p.Name, out var ps2))
                    {
                        if (Check(root, ps2, p.Value, $"{at}.{p.Name}") is { } e) return e;
                    }
                    else if (s.TryGetProperty("additionalProperties", out var ap) && Check(root, ap, p.Value, $"{at}.{p.Name}") is { } e2)
                        return ap.ValueKind == JsonValueKind.False ? $"{at}: additional property '{p.Name}'" : e2;
                }
                break;
            }
            case JsonValueKind.Array:
            {
                int n = v.GetArrayLength();
                if (s.TryGetProperty("minItems", out var mi) && n < mi.GetInt32()) return $"{at}: fewer than {mi} items";
                if (s.TryGetProperty("maxItems", out var ma) && n > ma.GetInt32()) return $"{at}: more than {ma} items";
                int prefix = 0;
                if (s.TryGetProperty("prefixItems", out var pi))
                {
                    prefix = pi.GetArrayLength();
                    for (int i = 0; i < Math.Min(prefix, n); i++)
                        if (Check(root, pi[i], v[i], $"{at}[{i}]") is { } e) return e;
                }
                if (s.TryGetProperty("items", out var items))
                    for (int i = prefix; i < n; i++)
                        if (Check(root, items, v[i], $"{at}[{i}]") is { } e) return e;
                break;
            }
            case JsonValueKind.String:
            {
                string str = v.GetString()!;
                int len = str.EnumerateRunes().Count();
                if (s.TryGetProperty("minLength", out var mn) && len < mn.GetInt32()) return $"{at}: shorter than {mn}";
                if (s.TryGetProperty("maxLength", out var mx) && len > mx.GetInt32()) return $"{at}: longer than {mx}";
                if (s.TryGetProperty("pattern", out var pat) && !Regex.IsMatch(str, pat.GetString()!)) return $"{at}: '{str}' does not match {pat}";
                if (s.TryGetProperty("format", out var f) && !FormatOk(f.GetString()!, str)) return $"{at}: '{str}' is not a {f}";
                break;
            }
            case JsonValueKind.Number:
            {
                double d = v.GetDouble();
                if (s.TryGetProperty("minimum", out var lo) && d < lo.GetDouble()) return $"{at}: {d} below minimum {lo}";
                if (s.TryGetProperty("maximum", out var hi) && d > hi.GetDouble()) return $"{at}: {d} above maximum {hi}";
                if (s.TryGetProperty("exclusiveMinimum", out var xlo) && xlo.ValueKind == JsonValueKind.Number && d <= xlo.GetDouble()) return $"{at}: {d} not above {xlo}";
                if (s.TryGetProperty("exclusiveMaximum", out var xhi) && xhi.ValueKind == JsonValueKind.Number && d >= xhi.GetDouble()) return $"{at}: {d} not below {xhi}";
                break;
            }
        }
        return null;
    }

    private static bool IsType(JsonElement v, string type) => type switch
    {
        "object" => v.ValueKind == JsonValueKind.Object,
        "array" => v.ValueKind == JsonValueKind.Array,
        "string" => v.ValueKind == JsonValueKind.String,
        "number" => v.ValueKind == JsonValueKind.Number,
        "integer" => v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d == Math.Floor(d),
        "boolean" => v.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "null" => v.ValueKind == JsonValueKind.Null,
        _ => false,
    };

    private static bool FormatOk(string format, string s) => format switch
    {
        "date" => DateOnly.TryParseExact(s, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _),
        "date-time" => DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.None, out _) && s.Contains('T', StringComparison.OrdinalIgnoreCase),
        "uuid" => Guid.TryParseExact(s, "D", out _),
        "email" => Regex.IsMatch(s, @"^[^@\s""]+@[^@\s""]+\.[A-Za-z]{2,}$"),
        _ => true,
    };

    /// <summary>JSON equality by value (numbers compared as numbers).</summary>
    private static bool Same(JsonElement a, JsonElement b)
    {
        if (a.ValueKind != b.ValueKind) return false;
        return a.ValueKind switch
        {
            JsonValueKind.Number => a.GetDouble() == b.GetDouble(),
            JsonValueKind.String => a.GetString() == b.GetString(),
            JsonValueKind.Array => a.GetArrayLength() == b.GetArrayLength() && a.EnumerateArray().Zip(b.EnumerateArray()).All(p => Same(p.First, p.Second)),
            JsonValueKind.Object => a.EnumerateObject().Count() == b.EnumerateObject().Count()
                && a.EnumerateObject().All(p => b.TryGetProperty(p.Name, out var q) && Same(p.Value, q)),
            _ => true,
        };
    }
}
