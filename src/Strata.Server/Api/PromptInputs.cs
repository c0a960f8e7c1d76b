using System.Text.Json;

namespace Strata.Server.Api;

/// <summary>
/// OpenAI's prompt shapes, shared by completions' <c>prompt</c> and embeddings' <c>input</c>: a string, an array of
/// token ids, or an array (at most <c>limit</c>) of strings and token arrays; each becomes one token list.
/// </summary>
public static class PromptInputs
{
    /// <param name="text">How one string becomes tokens (and what it refuses), given the field's path.</param>
    public static List<int[]> Read(JsonElement v, string param, int limit, string noun, int vocab, Func<JsonElement, string, int[]> text)
    {
        if (v.ValueKind == JsonValueKind.String) return [text(v, param)];
        if (v.ValueKind != JsonValueKind.Array) throw JsonBody.WrongType(param, "a string, an array of strings, an array of token ids, or an array of token arrays", v);
        if (v.GetArrayLength() == 0)
            throw ApiException.Invalid($"Invalid '{param}': empty array. Expected an array with minimum length 1, but got an empty array instead.", param, "empty_array");
        if (v[0].ValueKind == JsonValueKind.Number) return [Tokens(v, param, vocab)];
        if (v.GetArrayLength() > limit) throw JsonBody.OutOfRange(param, $"with at most {limit} {noun}", $"{v.GetArrayLength()}");
        var list = new List<int[]>(v.GetArrayLength());
        int i = 0;
        foreach (var item in v.EnumerateArray())
        {
            string at = $"{param}[{i++}]";
            list.Add(item.ValueKind switch
            {
                JsonValueKind.String => text(item, at),
                JsonValueKind.Array when item.GetArrayLength() == 0 => throw ApiException.Invalid($"Invalid '{at}': empty array of token ids.", at, "empty_array"),
                JsonValueKind.Array => Tokens(item, at, vocab),
                _ => throw JsonBody.WrongType(at, "a string or an array of token ids", item),
            });
        }
        return list;
    }

    /// <summary>An array of token ids, each inside the vocabulary.</summary>
    public static int[] Tokens(JsonElement array, string param, int vocab)
    {
        var tokens = new int[array.GetArrayLength()];
        int i = 0;
        foreach (var t in array.EnumerateArray())
        {
            if (t.ValueKind != JsonValueKind.Number || !t.TryGetInt32(out int id)) throw JsonBody.WrongType($"{param}[{i}]", "a token id", t);
            if ((uint)id >= (uint)vocab) throw JsonBody.OutOfRange($"{param}[{i}]", $"between 0 and {vocab - 1} (a token id)", $"{id}");
            tokens[i++] = id;
        }
        return tokens;
    }
}
