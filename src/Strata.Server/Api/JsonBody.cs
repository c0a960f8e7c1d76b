using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Strata.Server.Api;

/// <summary>
/// A request's JSON object, read with type and range checks that fail as OpenAI's 400s do: with the parameter named
/// ("Invalid type for 'temperature': expected a number, but got a string instead."). Absent and null fields are the same.
/// </summary>
public sealed class JsonBody : IDisposable
{
    private readonly JsonDocument _doc;

    private JsonBody(JsonDocument doc) => _doc = doc;

    public JsonElement Root => _doc.RootElement;

    public static async Task<JsonBody> ReadAsync(HttpRequest request)
    {
        JsonDocument doc;
        try
        {
            doc = await JsonDocument.ParseAsync(request.Body, new JsonDocumentOptions { MaxDepth = 64 }, request.HttpContext.RequestAborted);
        }
        catch (JsonException)
        {
            throw ApiException.Invalid("We could not parse the JSON body of your request: the API expects a JSON payload.");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new ApiException(413, "The request body is too large.", code: "request_too_large");
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            throw ApiException.Invalid("The request body must be a JSON object.");
        }
        return new JsonBody(doc);
    }

    public JsonElement? Get(string name) => Get(Root, name);

    public static JsonElement? Get(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public static ApiException WrongType(string name, string expected, JsonElement got) =>
        ApiException.Invalid($"Invalid type for '{name}': expected {expected}, but got {Kind(got)} instead.", name, "invalid_type");

    public static ApiException OutOfRange(string name, string range, string got) =>
        ApiException.Invalid($"Invalid '{name}': expected a value {range}, but got {got} instead.", name, "invalid_value");

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };

    public double? Number(string name, double min, double max)
    {
        if (Get(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d)) throw WrongType(name, "a number", v);
        if (!(d >= min && d <= max)) throw OutOfRange(name, $"between {F(min)} and {F(max)}", F(d));
        return d;
    }

    public long? Integer(string name, long min, long max)
    {
        if (Get(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number) throw WrongType(name, "an integer", v);
        if (!v.TryGetInt64(out long n))
        {
            if (v.TryGetDouble(out double d) && Math.Abs(d) > long.MaxValue / 2.0) throw OutOfRange(name, $"between {min} and {max}", v.GetRawText());
            throw WrongType(name, "an integer", v);
        }
        if (n < min || n > max) throw OutOfRange(name, $"between {min} and {max}", n.ToString(CultureInfo.InvariantCulture));
        return n;
    }

    public bool? Bool(string name)
    {
        if (Get(name) is not { } v) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw WrongType(name, "a boolean", v),
        };
    }

    public string? String(string name)
    {
        if (Get(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.String) throw WrongType(name, "a string", v);
        return v.GetString();
    }

    private static string F(double d) => d.ToString("0.###", CultureInfo.InvariantCulture);

    public void Dispose() => _doc.Dispose();
}
