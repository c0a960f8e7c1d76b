using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Strata.Grammar;

/// <summary>
/// Compiles a JSON Schema to GBNF rules (see <see cref="JsonSchemaGrammar"/> for the subset). Each schema location
/// becomes an expression; objects, arrays, strings with constraints and <c>$ref</c> targets become named rules, so a
/// schema used in many places is compiled once and recursion through <c>$ref</c> works.
/// </summary>
internal sealed partial class SchemaCompiler
{
    private const int MaxNesting = 128;

    /// <summary>Validation keywords a grammar cannot enforce: an error rather than output that may not validate.</summary>
    private static readonly HashSet<string> Unsupported = new(StringComparer.Ordinal)
    {
        "patternProperties", "propertyNames", "dependentRequired", "dependentSchemas", "dependencies", "if", "then", "else",
        "not", "contains", "minContains", "maxContains", "multipleOf", "minProperties", "maxProperties",
        "unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor",
        "contentSchema",
    };

    /// <summary>Keywords that constrain values (so they cannot sit silently beside <c>$ref</c> or <c>anyOf</c>).</summary>
    private static readonly HashSet<string> Validation = new(StringComparer.Ordinal)
    {
        "type", "properties", "required", "additionalProperties", "items", "prefixItems", "additionalItems", "minItems",
        "maxItems", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
        "maxLength", "pattern", "format", "anyOf", "oneOf", "allOf", "$ref", "nullable", "uniqueItems",
    };

    private static readonly string[] TypeNames = ["object", "array", "string", "number", "integer", "boolean", "null"];

    private static readonly JsonWriterOptions CompactJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false };

    private readonly JsonElement _root;
    private readonly GbnfRules _rules;
    private readonly Dictionary<string, string> _refRules = new(StringComparer.Ordinal);
    private int _depth;

    private SchemaCompiler(JsonElement root, string prefix)
    {
        _root = root;
        _rules = new GbnfRules(prefix);
    }

    public static string Compile(JsonElement schema, string prefix)
    {
        var c = new SchemaCompiler(schema, prefix);
        return c._rules.Write(c.Visit(schema, "#", "schema"));
    }

    /// <summary>Any JSON object (<c>{"type":"json_object"}</c>).</summary>
    public static string AnyObject(string prefix)
    {
        var rules = new GbnfRules(prefix);
        return rules.Write(rules.Primitive("object"));
    }

    private string Space => _rules.Primitive("space");

    /// <summary>The GBNF expression matching the values <paramref name="s"/> allows.</summary>
    private string Visit(JsonElement s, string path, string hint)
    {
        if (++_depth > MaxNesting) throw new GrammarException($"the JSON schema nests deeper than {MaxNesting} levels at {path}");
        try
        {
            return s.ValueKind switch
            {
                JsonValueKind.True => _rules.Primitive("value"),
                JsonValueKind.False => throw new GrammarException($"the schema at {path} is false: no value can match it"),
                JsonValueKind.Object => VisitObject(s, path, hint),
                _ => throw new GrammarException($"a JSON schema must be an object or a boolean, not {Kind(s)}, at {path}"),
            };
        }
        finally { _depth--; }
    }

    private string VisitObject(JsonElement s, string path, string hint)
    {
        foreach (var p in s.EnumerateObject())
            if (Unsupported.Contains(p.Name) || (p.Name == "uniqueItems" && p.Value.ValueKind == JsonValueKind.True))
                throw new GrammarException($"unsupported JSON Schema keyword '{p.Name}' at {path}");

        if (Get(s, "$ref") is { } refEl)
        {
            RefuseSiblings(s, "$ref", path);
            if (refEl.ValueKind != JsonValueKind.String) throw WrongType("$ref", "a string", path);
            return Ref(refEl.GetString()!, path);
        }
        if (Get(s, "const") is { } constant) return GbnfRules.Literal(Json(constant));
        if (Get(s, "enum") is { } en)
        {
            if (en.ValueKind != JsonValueKind.Array || en.GetArrayLength() == 0) throw WrongType("enum", "a non-empty array", path);
            return "(" + string.Join(" | ", en.EnumerateArray().Select(v => GbnfRules.Literal(Json(v))).Distinct()) + ")";
        }
        foreach (var key in new[] { "anyOf", "oneOf" })
        {
            if (Get(s, key) is not { } options) continue;
            RefuseSiblings(s, key, path);
            if (options.ValueKind != JsonValueKind.Array || options.GetArrayLength() == 0) throw WrongType(key, "a non-empty array of schemas", path);
            // oneOf is compiled as anyOf: a grammar cannot require that exactly one branch match.
            var alternatives = options.EnumerateArray().Select((o, i) => Visit(o, $"{path}/{key}/{i}", hint)).Distinct();
            return "(" + string.Join(" | ", alternatives) + ")";
        }
        if (Get(s, "allOf") is { } all) return AllOf(s, all, path, hint);

        var types = Types(s, path);
        var exprs = types.Select(t => Typed(s, t, path, hint)).ToList();
        return exprs.Count == 1 ? exprs[0] : "(" + string.Join(" | ", exprs) + ")";
    }

    private static void RefuseSiblings(JsonElement s, string keyword, string path)
    {
        foreach (var p in s.EnumerateObject())
            if (p.Name != keyword && Validation.Contains(p.Name))
                throw new GrammarException($"unsupported JSON Schema keyword '{p.Name}' beside '{keyword}' at {path} (combine them with allOf)");
    }

    /// <summary>The types a schema allows: its <c>type</c> (a name or a list), or what its keywords imply.</summary>
    private static List<string> Types(JsonElement s, string path)
    {
        var types = new List<string>();
        if (Get(s, "type") is { } t)
        {
            if (t.ValueKind == JsonValueKind.String) types.Add(t.GetString()!);
            else if (t.ValueKind == JsonValueKind.Array && t.GetArrayLength() > 0 && t.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String))
                types.AddRange(t.EnumerateArray().Select(x => x.GetString()!));
            else throw WrongType("type", "a type name or a non-empty array of type names", path);
            foreach (var name in types)
                if (!TypeNames.Contains(name)) throw new GrammarException($"unknown type '{name}' at {path}/type (expected one of {string.Join(", ", TypeNames)})");
        }
        else if (Has(s, "properties", "required", "additionalProperties")) types.Add("object");
        else if (Has(s, "items", "prefixItems", "minItems", "maxItems")) types.Add("array");
        else if (Has(s, "minLength", "maxLength", "pattern", "format")) types.Add("string");
        else if (Has(s, "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")) types.Add("number");
        else types.Add("any");
        if (Get(s, "nullable") is { ValueKind: JsonValueKind.True } && !types.Contains("null") && !types.Contains("any")) types.Add("null");
        return types.Distinct().ToList();
    }

    private string Typed(JsonElement s, string type, string path, string hint) => type switch
    {
        "object" => ObjectSchema(s, path, hint),
        "array" => ArraySchema(s, path, hint),
        "string" => StringSchema(s, path, hint),
        "number" => NumberSchema(s, path, hint, integer: false),
        "integer" => NumberSchema(s, path, hint, integer: true),
        "boolean" => _rules.Primitive("boolean"),
        "null" => _rules.Primitive("null"),
        _ => _rules.Primitive("value"),
    };

    // ------------------------------------------------------------------ $ref

    private string Ref(string reference, string path)
    {
        if (_refRules.TryGetValue(reference, out var known)) return known;
        if (!reference.StartsWith('#'))
            throw new GrammarException($"unsupported $ref '{reference}' at {path}: only references inside the schema (#/$defs/..., #/definitions/...) are supported");
        var target = Resolve(reference) ?? throw new GrammarException($"$ref '{reference}' at {path} points to nothing in the schema");
        string last = reference.TrimEnd('/').Split('/')[^1];
        string name = _rules.NewName(last is "#" or "" ? "ref" : Unescape(last));
        _refRules[reference] = name;   // before visiting, so recursion finds it
        _rules.Define(name, Visit(target, reference, last));
        return name;
    }

    private JsonElement? Resolve(string reference)
    {
        var cur = _root;
        if (reference == "#") return cur;
        if (!reference.StartsWith("#/", StringComparison.Ordinal)) return null;
        foreach (var raw in reference[2..].Split('/'))
        {
            string seg = Unescape(raw);
            if (cur.ValueKind == JsonValueKind.Object && cur.TryGetProperty(seg, out var next)) cur = next;
            else if (cur.ValueKind == JsonValueKind.Array && int.TryParse(seg, out int i) && i >= 0 && i < cur.GetArrayLength()) cur = cur[i];
            else return null;
        }
        return cur;
    }

    private static string Unescape(string segment) => Uri.UnescapeDataString(segment).Replace("~1", "/").Replace("~0", "~");

    private static string Pointer(string name) => name.Replace("~", "~0").Replace("/", "~1");

    // ------------------------------------------------------------------ helpers

    private static JsonElement? Get(JsonElement s, string name) => s.TryGetProperty(name, out var v) ? v : null;

    private static bool Has(JsonElement s, params string[] names) => names.Any(n => s.TryGetProperty(n, out _));

    private static string Json(JsonElement v)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, CompactJson)) v.WriteTo(w);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.Array => "an array",
        JsonValueKind.Null => "null",
        _ => e.ValueKind.ToString().ToLowerInvariant(),
    };

    private static GrammarException WrongType(string keyword, string expected, string path) =>
        new($"'{keyword}' at {path} must be {expected}");

    private static long? Count(JsonElement s, string keyword, string path)
    {
        if (Get(s, keyword) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || d < 0 || d != Math.Floor(d))
            throw WrongType(keyword, "a non-negative integer", path);
        return d > int.MaxValue ? int.MaxValue : (long)d;
    }

    private static double? Bound(JsonElement s, string keyword, string path)
    {
        if (Get(s, keyword) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d)) throw WrongType(keyword, "a number", path);
        return d;
    }
}
