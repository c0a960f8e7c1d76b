using System.Text.Json;
using Strata.Grammar;
using Strata.Server.Hosting;

namespace Strata.Server.Api;

/// <summary>
/// The fields that constrain the output: OpenAI's <c>response_format</c> (<c>text</c>, <c>json_object</c>,
/// <c>json_schema</c> with <c>json_schema.schema</c>), llama.cpp's <c>grammar</c> (GBNF text) and <c>json_schema</c>
/// (a schema object). They compile to one grammar, shared through the per-vocabulary cache so that a repeated
/// schema costs nothing; a schema or grammar that does not compile is a 400 naming the field and the problem.
/// </summary>
public static class StructuredOutput
{
    /// <summary>The compiled grammar the request asks for, or null for free text.</summary>
    public static TokenGrammar? Parse(JsonBody b, ModelHost host)
    {
        var (gbnf, param) = Gbnf(b);
        if (gbnf is null) return null;
        try
        {
            return TokenGrammar.Get(gbnf, host.Model.Tokenizer, host.Model.Config.VocabSize);
        }
        catch (GrammarException e)
        {
            throw ApiException.Invalid($"Invalid '{param}': {e.Message}", param, "invalid_value");
        }
    }

    /// <summary>The GBNF text of the request's constraint and the field it came from.</summary>
    private static (string? Gbnf, string Param) Gbnf(JsonBody b)
    {
        var found = new List<(string Gbnf, string Param)>();
        if (b.Get("response_format") is { } rf && ResponseFormat(rf) is { } fromFormat) found.Add((fromFormat, "response_format"));
        if (b.Get("grammar") is { } g)
        {
            if (g.ValueKind != JsonValueKind.String) throw JsonBody.WrongType("grammar", "a string of GBNF", g);
            if (g.GetString() is { Length: > 0 } text) found.Add((text, "grammar"));
        }
        if (b.Get("json_schema") is { } js) found.Add((Schema(js, "json_schema"), "json_schema"));
        if (found.Count > 1)
            throw ApiException.Invalid($"Give only one of 'response_format', 'grammar' and 'json_schema'; this request has {string.Join(" and ", found.Select(f => $"'{f.Param}'"))}.", found[1].Param);
        return found.Count == 0 ? (null, "") : found[0];
    }

    /// <summary>The Responses API's <c>text.format</c>: <c>text</c> (null), <c>json_object</c>, or <c>json_schema</c> with the
    /// schema beside the type (<c>{"type":"json_schema","name":..,"schema":{..},"strict":true}</c>).</summary>
    public static string? TextFormat(JsonElement f)
    {
        const string param = "text.format";
        if (f.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType(param, "an object", f);
        string? type = JsonBody.Get(f, "type") is { ValueKind: JsonValueKind.String } s ? s.GetString() : null;
        switch (type)
        {
            case "text":
                return null;
            case "json_object":
                return JsonSchemaGrammar.JsonObjectGbnf;
            case "json_schema":
                if (JsonBody.Get(f, "strict") is { ValueKind: not (JsonValueKind.True or JsonValueKind.False) } strict)
                    throw JsonBody.WrongType("text.format.strict", "a boolean", strict);
                return JsonBody.Get(f, "schema") is { } schema ? Schema(schema, param)
                    : throw ApiException.Invalid("Missing required parameter: 'text.format.schema'.", param, "missing_required_parameter");
            default:
                throw ApiException.Invalid($"Invalid value: '{type ?? "(none)"}'. Supported values are: 'text', 'json_schema' and 'json_object'.", "text.format.type", "invalid_value");
        }
    }

    private static string? ResponseFormat(JsonElement rf)
    {
        const string param = "response_format";
        if (rf.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType(param, "an object", rf);
        if (JsonBody.Get(rf, "type") is not { ValueKind: JsonValueKind.String } t)
            throw ApiException.Invalid("Missing required parameter: 'response_format.type'.", param, "missing_required_parameter");
        switch (t.GetString())
        {
            case "text":
                return null;
            case "json_object":
                // llama.cpp lets json_object carry a schema too.
                return JsonBody.Get(rf, "schema") is { } s ? Schema(s, param) : JsonSchemaGrammar.JsonObjectGbnf;
            case "json_schema":
            {
                if (JsonBody.Get(rf, "json_schema") is not { } js)
                    throw ApiException.Invalid("Missing required parameter: 'response_format.json_schema'.", param, "missing_required_parameter");
                if (js.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType("response_format.json_schema", "an object", js);
                if (JsonBody.Get(js, "name") is { } name && (name.ValueKind != JsonValueKind.String || name.GetString()!.Length > 64))
                    throw ApiException.Invalid("Invalid 'response_format.json_schema.name': expected a string of at most 64 characters.", param, "invalid_value");
                if (JsonBody.Get(js, "strict") is { ValueKind: not (JsonValueKind.True or JsonValueKind.False) } strict)
                    throw JsonBody.WrongType("response_format.json_schema.strict", "a boolean", strict);
                // Strict or not, the output is held to the schema: a grammar makes that free.
                return JsonBody.Get(js, "schema") is { } schema ? Schema(schema, param) : JsonSchemaGrammar.JsonObjectGbnf;
            }
            default:
                throw ApiException.Invalid($"Invalid value: '{t.GetString()}'. Supported values are: 'text', 'json_object' and 'json_schema'.", param, "invalid_value");
        }
    }

    /// <summary>A grammar from GBNF text built by the server (tool calls, the Responses API's text.format); a grammar that
    /// does not compile is a 400 naming <paramref name="param"/>.</summary>
    public static TokenGrammar Compile(string gbnf, string param, ModelHost host)
    {
        try
        {
            return TokenGrammar.Get(gbnf, host.Model.Tokenizer, host.Model.Config.VocabSize);
        }
        catch (GrammarException e)
        {
            throw ApiException.Invalid($"Invalid '{param}': {e.Message}", param, "invalid_value");
        }
    }

    /// <summary>GBNF of a JSON schema given in the field <paramref name="param"/>.</summary>
    public static string Schema(JsonElement schema, string param)
    {
        try
        {
            return JsonSchemaGrammar.ToGbnf(schema);
        }
        catch (GrammarException e)
        {
            throw ApiException.Invalid($"Invalid '{param}': {e.Message}", param, "invalid_value");
        }
    }
}
