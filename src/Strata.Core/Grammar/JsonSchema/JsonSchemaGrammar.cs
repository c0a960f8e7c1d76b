using System.Text.Json;

namespace Strata.Grammar;

/// <summary>
/// JSON Schema to GBNF, for structured output (OpenAI's <c>response_format</c>, tool arguments). Supported: <c>type</c>
/// (object, array, string, number, integer, boolean, null, and lists of them), <c>properties</c>, <c>required</c>,
/// <c>additionalProperties</c> (false, true or a schema; absent means none beyond <c>properties</c>, as in
/// llama.cpp), <c>enum</c>, <c>const</c>, <c>minimum</c>/<c>maximum</c>/<c>exclusiveMinimum</c>/<c>exclusiveMaximum</c>,
/// <c>minLength</c>/<c>maxLength</c>, <c>pattern</c>, <c>items</c>/<c>prefixItems</c>/<c>minItems</c>/<c>maxItems</c>,
/// <c>anyOf</c>/<c>oneOf</c>, <c>allOf</c> of object schemas, <c>$ref</c> into <c>$defs</c>/<c>definitions</c>
/// (recursion included), <c>nullable</c>, and the formats date-time, date, time, uuid, email, ipv4 and hostname.
/// Annotations (title, description, default, examples, ...) are ignored. A keyword a grammar cannot enforce is a
/// <see cref="GrammarException"/> naming it and its place: <c>unsupported JSON Schema keyword 'patternProperties' at
/// #/properties/a</c>. Properties come in their declared order; whitespace between tokens is bounded.
/// </summary>
public static class JsonSchemaGrammar
{
    /// <summary>GBNF whose start rule, <c>{rulePrefix}root</c>, matches exactly the JSON texts the schema allows; every
    /// rule name starts with <paramref name="rulePrefix"/>, so the rules can be embedded in a larger grammar
    /// (<c>root ::= "&lt;tool_call&gt;" args-root "&lt;/tool_call&gt;"</c> plus the rules of <c>ToGbnf(schema, "args-")</c>).</summary>
    /// <exception cref="GrammarException">the schema uses something unsupported or is malformed.</exception>
    public static string ToGbnf(JsonElement schema, string rulePrefix = "") => SchemaCompiler.Compile(schema, rulePrefix);

    /// <summary>GBNF of <paramref name="schemaJson"/> (JSON text).</summary>
    public static string ToGbnf(string schemaJson, string rulePrefix = "")
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(schemaJson, new JsonDocumentOptions { MaxDepth = 256 }); }
        catch (JsonException e) { throw new GrammarException($"the JSON schema is not valid JSON: {e.Message}"); }
        using (doc) return ToGbnf(doc.RootElement, rulePrefix);
    }

    /// <summary>Any JSON object: <c>response_format</c> <c>{"type":"json_object"}</c>.</summary>
    public static string JsonObjectGbnf { get; } = SchemaCompiler.AnyObject("");

    /// <summary>Any JSON object, with rule names under a prefix (start rule <c>{rulePrefix}root</c>).</summary>
    public static string JsonObject(string rulePrefix) => SchemaCompiler.AnyObject(rulePrefix);
}
