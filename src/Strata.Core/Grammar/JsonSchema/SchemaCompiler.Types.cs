using System.Text.Json;

namespace Strata.Grammar;

/// <summary>The per-type parts of the schema compiler: objects, arrays, strings, numbers, allOf.</summary>
internal sealed partial class SchemaCompiler
{
    private const int MaxLengthBound = Gbnf.MaxRepeat;

    private static readonly JsonElement TrueSchema = JsonDocument.Parse("true").RootElement;

    private sealed record Property(string Name, JsonElement Schema, string Path);

    // ------------------------------------------------------------------ objects

    private string ObjectSchema(JsonElement s, string path, string hint)
    {
        var props = new List<Property>();
        if (Get(s, "properties") is { } ps)
        {
            if (ps.ValueKind != JsonValueKind.Object) throw WrongType("properties", "an object", path);
            foreach (var p in ps.EnumerateObject()) props.Add(new Property(p.Name, p.Value, $"{path}/properties/{Pointer(p.Name)}"));
        }
        var required = Required(s, path);
        JsonElement? additional = Get(s, "additionalProperties");
        if (additional is { ValueKind: not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Object) })
            throw WrongType("additionalProperties", "a boolean or a schema", path);
        // A bare {"type":"object"} is any object; with properties, only those (llama.cpp's choice: a model asked for
        // these fields should not invent others unless the schema says additionalProperties).
        if (props.Count == 0 && required.Count == 0 && additional is null) return _rules.Primitive("object");
        // Required names missing from properties take additionalProperties' schema (any value when it is absent).
        var extra = additional is { ValueKind: JsonValueKind.False } ? null : additional;
        return ObjectRule(props, required, extra, additional is null ? TrueSchema : extra, path, hint);
    }

    private static List<string> Required(JsonElement s, string path)
    {
        if (Get(s, "required") is not { } r) return [];
        if (r.ValueKind != JsonValueKind.Array || r.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
            throw WrongType("required", "an array of property names", path);
        return r.EnumerateArray().Select(x => x.GetString()!).Distinct().ToList();
    }

    /// <summary>
    /// An object with the properties in their declared order, the required ones always present, optional ones
    /// possibly left out, then (when allowed) further properties with other names. Written right to left as a chain
    /// of rules — "the rest after property i" — so the grammar stays linear in the number of properties.
    /// </summary>
    private string ObjectRule(List<Property> props, List<string> required, JsonElement? additional, JsonElement? undeclared, string path, string hint)
    {
        string name = _rules.NewName(hint);
        foreach (var r in required)
        {
            if (props.Any(p => p.Name == r)) continue;
            if (undeclared is null) throw new GrammarException($"required property '{r}' at {path} is not in 'properties' and additional properties are not allowed");
            props.Add(new Property(r, undeclared.Value, $"{path}/required"));
        }
        string sp = Space;
        var kvs = props.Select(p => $"{GbnfRules.Literal("\"" + GbnfRules.JsonEscape(p.Name) + "\"")} {sp} \":\" {sp} {Visit(p.Schema, p.Path, p.Name)} {sp}").ToList();
        var isRequired = props.Select(p => required.Contains(p.Name)).ToList();

        string? extra = null;
        if (additional is { } a)
        {
            string key = props.Count == 0 ? _rules.Primitive("string") : NotNames(props.Select(p => p.Name).ToList(), name);
            extra = $"{key} {sp} \":\" {sp} {Visit(a, path + "/additionalProperties", hint + "-value")} {sp}";
        }

        string body;
        if (extra is null && isRequired.All(x => x))
            body = props.Count == 0 ? "" : string.Join($" \",\" {sp} ", kvs);
        else
        {
            // rest(i): what may follow once something has been written, from property i on (each part with its comma);
            // first(i): what may come first from property i on.
            int n = props.Count;
            string restEnd = extra is null ? "\"\"" : $"(\",\" {sp} {extra})*";
            string firstEnd = extra is null ? "\"\"" : $"({extra} (\",\" {sp} {extra})*)?";
            var rest = new string[n + 1];
            var first = new string[n + 1];
            rest[n] = restEnd;
            first[n] = firstEnd;
            for (int i = n - 1; i >= 0; i--)
            {
                string term = $"\",\" {sp} {kvs[i]}";
                string restName = _rules.NewName($"{name}-rest{i}");
                _rules.Define(restName, isRequired[i] ? $"{term} {rest[i + 1]}" : $"({term})? {rest[i + 1]}");
                rest[i] = restName;
                string firstName = _rules.NewName($"{name}-first{i}");
                string after = i + 1 <= n ? rest[i + 1] : "\"\"";
                _rules.Define(firstName, isRequired[i] ? $"{kvs[i]} {after}" : $"{kvs[i]} {after} | {first[i + 1]}");
                first[i] = firstName;
            }
            body = first[0];
        }
        _rules.Define(name, $"\"{{\" {sp} {body} \"}}\"");
        return name;
    }

    /// <summary>
    /// A JSON string key other than the declared names (so an additional property cannot repeat one): a trie of the
    /// names, where each node allows ending (unless a name ends there), any character that leaves every name, or a
    /// character that continues one. Names with characters JSON escapes are left out of the trie.
    /// </summary>
    private string NotNames(List<string> names, string owner)
    {
        string ch = _rules.Primitive("char");
        var trie = new TrieNode();
        foreach (var n in names.Where(n => GbnfRules.JsonEscape(n) == n))
        {
            var node = trie;
            foreach (var rune in n.EnumerateRunes())
            {
                if (!node.Children.TryGetValue(rune.Value, out var child)) node.Children[rune.Value] = child = new TrieNode();
                node = child;
            }
            node.Terminal = true;
        }
        string root = Emit(trie);
        string key = _rules.NewName(owner + "-other-key");
        _rules.Define(key, $"\"\\\"\" {root} \"\\\"\"");
        return key;

        string Emit(TrieNode node)
        {
            string rule = _rules.NewName(owner + "-key");
            var options = new List<string>();
            if (!node.Terminal) options.Add("\"\"");
            var leave = Utf8Ranges.Normalize(node.Children.Keys.Select(c => (c, c)).Concat([(0, 0x1F), ('"', '"'), ('\\', '\\')]).ToList(), negated: true);
            if (leave.Count > 0) options.Add($"{GbnfRules.Class(leave)} {ch}*");
            options.Add($"\"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{{4}}) {ch}*");
            foreach (var (c, child) in node.Children.OrderBy(kv => kv.Key))
                options.Add($"{GbnfRules.Literal(char.ConvertFromUtf32(c))} {Emit(child)}");
            _rules.Define(rule, string.Join(" | ", options));
            return rule;
        }
    }

    private sealed class TrieNode
    {
        public Dictionary<int, TrieNode> Children { get; } = new();
        public bool Terminal { get; set; }
    }

    // ------------------------------------------------------------------ allOf

    /// <summary>allOf of object schemas (directly or through $ref): their properties and required lists merged.</summary>
    private string AllOf(JsonElement s, JsonElement all, string path, string hint)
    {
        if (all.ValueKind != JsonValueKind.Array || all.GetArrayLength() == 0) throw WrongType("allOf", "a non-empty array of schemas", path);
        var parts = new List<(JsonElement Schema, string Path)>();
        int i = 0;
        foreach (var part in all.EnumerateArray()) parts.Add(Follow(part, $"{path}/allOf/{i++}"));
        bool ownKeywords = s.EnumerateObject().Any(p => p.Name != "allOf" && Validation.Contains(p.Name));
        if (parts.Count == 1 && !ownKeywords) return Visit(parts[0].Schema, parts[0].Path, hint);
        if (ownKeywords) parts.Add((s, path));

        var props = new List<Property>();
        var required = new List<string>();
        bool allowExtra = true;
        foreach (var (part, at) in parts)
        {
            if (part.ValueKind == JsonValueKind.True) continue;
            if (part.ValueKind != JsonValueKind.Object) throw new GrammarException($"unsupported allOf at {path}: the part at {at} is not an object schema");
            foreach (var p in part.EnumerateObject())
            {
                if (p.Name is "allOf" && at == path) continue;
                if (!Validation.Contains(p.Name) && !Unsupported.Contains(p.Name)) continue;
                bool objectKeyword = p.Name is "properties" or "required" or "additionalProperties"
                    || (p.Name == "type" && p.Value.ValueKind == JsonValueKind.String && p.Value.GetString() == "object");
                if (!objectKeyword)
                    throw new GrammarException($"unsupported JSON Schema keyword '{p.Name}' in allOf at {at}: only object schemas (properties, required, additionalProperties) can be combined");
            }
            if (Get(part, "properties") is { ValueKind: JsonValueKind.Object } ps)
                foreach (var p in ps.EnumerateObject())
                {
                    var existing = props.FirstOrDefault(x => x.Name == p.Name);
                    if (existing is null) props.Add(new Property(p.Name, p.Value, $"{at}/properties/{Pointer(p.Name)}"));
                    else if (Json(existing.Schema) != Json(p.Value))
                        throw new GrammarException($"unsupported allOf at {path}: property '{p.Name}' has different schemas at {existing.Path} and {at}/properties/{Pointer(p.Name)}");
                }
            required.AddRange(Required(part, at));
            if (Get(part, "additionalProperties") is not { ValueKind: JsonValueKind.True }) allowExtra = false;
        }
        var extra = allowExtra ? TrueSchema : (JsonElement?)null;
        return ObjectRule(props, required.Distinct().ToList(), extra, extra, path, hint);
    }

    /// <summary>A schema with its $ref chain followed (allOf parts are merged by content, not by rule).</summary>
    private (JsonElement, string) Follow(JsonElement part, string path)
    {
        for (int hops = 0; hops < 32; hops++)
        {
            if (part.ValueKind != JsonValueKind.Object || Get(part, "$ref") is not { ValueKind: JsonValueKind.String } r) return (part, path);
            string reference = r.GetString()!;
            part = (reference.StartsWith('#') ? Resolve(reference) : null)
                ?? throw new GrammarException($"$ref '{reference}' at {path} points to nothing in the schema");
            path = reference;
        }
        throw new GrammarException($"$ref chain at {path} is longer than 32 references");
    }

    // ------------------------------------------------------------------ arrays

    private string ArraySchema(JsonElement s, string path, string hint)
    {
        long min = Count(s, "minItems", path) ?? 0;
        long? max = Count(s, "maxItems", path);
        if (max < min) throw new GrammarException($"'maxItems' at {path} is below 'minItems'");
        if (min > MaxLengthBound || max > MaxLengthBound) throw new GrammarException($"'minItems'/'maxItems' at {path} above {MaxLengthBound} are not supported");
        string sp = Space;

        JsonElement? prefix = Get(s, "prefixItems") ?? (Get(s, "items") is { ValueKind: JsonValueKind.Array } tuple ? tuple : null);
        JsonElement? rest = Get(s, "prefixItems") is not null ? Get(s, "items") : Get(s, "items") is { ValueKind: JsonValueKind.Array } ? Get(s, "additionalItems") : Get(s, "items");
        if (rest is { ValueKind: not (JsonValueKind.Object or JsonValueKind.True or JsonValueKind.False) })
            throw WrongType(Get(s, "prefixItems") is not null ? "items" : "additionalItems", "a schema", path);

        string name = _rules.NewName(hint);
        string body;
        if (prefix is { } pre)
        {
            if (pre.ValueKind != JsonValueKind.Array) throw WrongType("prefixItems", "an array of schemas", path);
            string key = Get(s, "prefixItems") is not null ? "prefixItems" : "items";
            var elems = pre.EnumerateArray().Select((e, i) => Visit(e, $"{path}/{key}/{i}", $"{hint}-{i}")).ToList();
            string? extra = rest is { ValueKind: JsonValueKind.Object or JsonValueKind.True } r ? ItemRule(r, path + "/" + (key == "prefixItems" ? "items" : "additionalItems"), hint) : null;
            // Without minItems every prefix item is written (a shorter tuple would validate too, but is rarely meant).
            if (Get(s, "minItems") is null) min = Math.Min(elems.Count, max ?? long.MaxValue);
            long limit = Math.Min(max ?? long.MaxValue, extra is null ? elems.Count : long.MaxValue);
            if (min > limit) throw new GrammarException($"'minItems' at {path} asks for more items than the tuple allows");
            body = Tuple(elems, extra, min, max, 0, sp);
        }
        else if (rest is { ValueKind: JsonValueKind.False } || max == 0)
        {
            if (min > 0) throw new GrammarException($"'minItems' at {path} asks for items that 'items: false' or 'maxItems: 0' forbid");
            body = "";
        }
        else
        {
            string item = ItemRule(rest ?? TrueSchema, path + "/items", hint);
            if (max == 0) body = "";
            else
            {
                string one = $"{item} {sp}";
                string more = $"(\",\" {sp} {item} {sp})" + Repeat(Math.Max(0, min - 1), max is { } x ? x - 1 : null);
                if (more.EndsWith("{0}", StringComparison.Ordinal)) more = "";
                string seq = $"{one} {more}".TrimEnd();
                body = min == 0 ? $"({seq})?" : seq;
            }
        }
        _rules.Define(name, $"\"[\" {sp} {body} \"]\"");
        return name;
    }

    /// <summary>Tuple items from index <paramref name="i"/>: required up to minItems, each later one optional with the
    /// ones after it, then extra items when the schema allows them.</summary>
    private static string Tuple(List<string> elems, string? extra, long min, long? max, int i, string sp)
    {
        if (i == elems.Count || (max is { } m && i >= m))
        {
            if (extra is null || (max is { } m2 && i >= m2)) return "";
            long extraMin = Math.Max(0, min - i);
            long? extraMax = max is { } m3 ? m3 - i : null;
            string sep = i == 0 ? "" : $"\",\" {sp} ";
            if (i == 0)
            {
                string seq = $"{extra} {sp} (\",\" {sp} {extra} {sp}){Repeat(Math.Max(0, extraMin - 1), extraMax - 1)}";
                return extraMin == 0 ? $"({seq})?" : seq;
            }
            return $"({sep}{extra} {sp}){Repeat(extraMin, extraMax)}";
        }
        string term = (i == 0 ? "" : $"\",\" {sp} ") + $"{elems[i]} {sp} " + Tuple(elems, extra, min, max, i + 1, sp);
        return i < min ? term : $"({term.TrimEnd()})?";
    }

    private static string Repeat(long min, long? max) => max switch
    {
        null => min == 0 ? "*" : $"{{{min},}}",
        var x when x == min => $"{{{min}}}",
        var x => $"{{{min},{x}}}",
    };

    /// <summary>The item schema as one rule name, so that repeating it copies a call, not the whole item.</summary>
    private string ItemRule(JsonElement schema, string path, string hint)
    {
        string expr = Visit(schema, path, hint + "-item");
        if (expr.All(c => Gbnf.IsNameChar(c))) return expr;
        string name = _rules.NewName(hint + "-item");
        _rules.Define(name, expr);
        return name;
    }

    // ------------------------------------------------------------------ strings

    private string StringSchema(JsonElement s, string path, string hint)
    {
        long? minLen = Count(s, "minLength", path), maxLen = Count(s, "maxLength", path);
        string? pattern = Get(s, "pattern") is { } p ? (p.ValueKind == JsonValueKind.String ? p.GetString() : throw WrongType("pattern", "a string", path)) : null;
        string? format = Get(s, "format") is { } f ? (f.ValueKind == JsonValueKind.String ? f.GetString() : throw WrongType("format", "a string", path)) : null;
        if (pattern is null && format is null && minLen is null && maxLen is null) return _rules.Primitive("string");
        if (maxLen < minLen) throw new GrammarException($"'maxLength' at {path} is below 'minLength'");
        if (minLen > MaxLengthBound || maxLen > MaxLengthBound) throw new GrammarException($"'minLength'/'maxLength' at {path} above {MaxLengthBound} are not supported");
        string content;
        if (pattern is not null)
        {
            if (format is not null || minLen is not null || maxLen is not null)
                throw new GrammarException($"unsupported JSON Schema keyword '{(format is not null ? "format" : minLen is not null ? "minLength" : "maxLength")}' beside 'pattern' at {path}");
            content = PatternCompiler.Compile(pattern, path + "/pattern", _rules.Primitive("char"));
        }
        else if (format is not null)
        {
            if (!StringFormats.Content.TryGetValue(format, out var fmt))
                throw new GrammarException($"unsupported JSON Schema format '{format}' at {path}/format (supported: {string.Join(", ", StringFormats.Content.Keys)})");
            if (minLen is not null || maxLen is not null)
                throw new GrammarException($"unsupported JSON Schema keyword '{(minLen is not null ? "minLength" : "maxLength")}' beside 'format' at {path}");
            content = fmt;
        }
        else content = $"{_rules.Primitive("char")}{Repeat(minLen ?? 0, maxLen)}";
        string name = _rules.NewName(hint);
        _rules.Define(name, $"\"\\\"\" {content} \"\\\"\"");
        return name;
    }

    // ------------------------------------------------------------------ numbers

    private string NumberSchema(JsonElement s, string path, string hint, bool integer)
    {
        var (lo, loExclusive) = Lower(s, path);
        var (hi, hiExclusive) = Upper(s, path);
        if (lo is null && hi is null) return _rules.Primitive(integer ? "integer" : "number");
        if (lo > hi || (lo == hi && (loExclusive || hiExclusive))) throw new GrammarException($"no number satisfies the bounds at {path}: the minimum is above the maximum");
        string? body = integer
            ? NumberRanges.Integers(lo is { } l ? (long)Math.Clamp(loExclusive ? Math.Floor(l) + 1 : Math.Ceiling(l), -NumberRanges.Limit, NumberRanges.Limit) : null,
                                    hi is { } h ? (long)Math.Clamp(hiExclusive ? Math.Ceiling(h) - 1 : Math.Floor(h), -NumberRanges.Limit, NumberRanges.Limit) : null)
            : NumberRanges.Numbers(lo, loExclusive, hi, hiExclusive);
        if (body is null) throw new GrammarException($"no {(integer ? "integer" : "number")} satisfies the bounds at {path}");
        string name = _rules.NewName(hint);
        _rules.Define(name, body);
        return name;
    }

    /// <summary>The tighter of minimum and exclusiveMinimum (a number, or draft 4's boolean modifier).</summary>
    private static (double? Value, bool Exclusive) Lower(JsonElement s, string path)
    {
        double? min = Bound(s, "minimum", path);
        if (Get(s, "exclusiveMinimum") is { } ex)
        {
            if (ex.ValueKind is JsonValueKind.True or JsonValueKind.False)
                return (min, ex.ValueKind == JsonValueKind.True && min is not null);
            double e = Bound(s, "exclusiveMinimum", path)!.Value;
            if (min is null || e >= min) return (e, true);
        }
        return (min, false);
    }

    private static (double? Value, bool Exclusive) Upper(JsonElement s, string path)
    {
        double? max = Bound(s, "maximum", path);
        if (Get(s, "exclusiveMaximum") is { } ex)
        {
            if (ex.ValueKind is JsonValueKind.True or JsonValueKind.False)
                return (max, ex.ValueKind == JsonValueKind.True && max is not null);
            double e = Bound(s, "exclusiveMaximum", path)!.Value;
            if (max is null || e <= max) return (e, true);
        }
        return (max, false);
    }
}
