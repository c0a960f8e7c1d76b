using System.Globalization;
using System.Text.Json;

namespace Strata.Kv.Replay;

/// <summary>Parses and formats one JSON line of a Mooncake trace. Errors carry no location; the caller adds it.</summary>
internal static class MooncakeLine
{
    /// <summary>A bound on one line's ids, so a corrupt file fails fast instead of exhausting memory.</summary>
    public const int MaxHashIds = 1_000_000;

    /// <summary>Thrown for a line that is valid JSON but not a valid request.</summary>
    public sealed class Problem(string message) : Exception(message);

    /// <summary>Parses one line. <paramref name="ids"/> is scratch space reused across lines.</summary>
    public static TraceRequest Parse(ReadOnlySpan<byte> utf8, List<long> ids)
    {
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = 8 });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            throw new Problem($"expected a JSON object, got {reader.TokenType}");
        long? timestamp = null;
        int? input = null, output = null;
        long[]? hashIds = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("timestamp"u8)) timestamp = Once(timestamp, "timestamp", ReadLong(ref reader, "timestamp"));
            else if (reader.ValueTextEquals("input_length"u8)) input = Once(input, "input_length", ReadInt(ref reader, "input_length"));
            else if (reader.ValueTextEquals("output_length"u8)) output = Once(output, "output_length", ReadInt(ref reader, "output_length"));
            else if (reader.ValueTextEquals("hash_ids"u8))
            {
                if (hashIds is not null) throw new Problem("field 'hash_ids' appears twice");
                hashIds = ReadIds(ref reader, ids);
            }
            else
            {
                // Unknown fields are skipped: variants of the format add their own (e.g. session ids).
                reader.Read();
                reader.Skip();
            }
        }
        // Anything after the object makes the reader throw a JsonException on this Read.
        while (reader.Read()) { }
        if (timestamp is null) throw Missing("timestamp");
        if (input is null) throw Missing("input_length");
        if (output is null) throw Missing("output_length");
        if (hashIds is null) throw Missing("hash_ids");
        return new TraceRequest(timestamp.Value, input.Value, output.Value, hashIds);
    }

    private static Problem Missing(string field) => new($"missing field '{field}'");

    private static T Once<T>(T? seen, string field, T value) where T : struct =>
        seen is null ? value : throw new Problem($"field '{field}' appears twice");

    private static long ReadLong(ref Utf8JsonReader reader, string field)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.Number) throw new Problem($"'{field}' must be a number, got {reader.TokenType}");
        if (!reader.TryGetInt64(out long v)) throw new Problem($"'{field}' must be an integer, got {Text(ref reader)}");
        if (v < 0) throw new Problem($"'{field}' must not be negative, got {v}");
        return v;
    }

    private static int ReadInt(ref Utf8JsonReader reader, string field)
    {
        long v = ReadLong(ref reader, field);
        return v <= int.MaxValue ? (int)v : throw new Problem($"'{field}' is too large: {v}");
    }

    private static long[] ReadIds(ref Utf8JsonReader reader, List<long> ids)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray) throw new Problem($"'hash_ids' must be an array, got {reader.TokenType}");
        ids.Clear();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (ids.Count == MaxHashIds) throw new Problem($"'hash_ids' has more than {MaxHashIds} ids");
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long id))
                throw new Problem($"hash_ids[{ids.Count}] must be an integer, got {Text(ref reader)}");
            if (id < 0) throw new Problem($"hash_ids[{ids.Count}] must not be negative, got {id}");
            ids.Add(id);
        }
        return ids.ToArray();
    }

    private static string Text(ref Utf8JsonReader reader) => reader.TokenType switch
    {
        JsonTokenType.Number or JsonTokenType.String => System.Text.Encoding.UTF8.GetString(reader.ValueSpan),
        _ => reader.TokenType.ToString(),
    };

    /// <summary>Writes one request the way Python's json.dumps does, so traces diff cleanly against Mooncake's.</summary>
    public static void Format(TextWriter w, TraceRequest r)
    {
        Span<char> buf = stackalloc char[24];
        w.Write("{\"timestamp\": ");
        Number(w, r.Timestamp, buf);
        w.Write(", \"input_length\": ");
        Number(w, r.InputLength, buf);
        w.Write(", \"output_length\": ");
        Number(w, r.OutputLength, buf);
        w.Write(", \"hash_ids\": [");
        long[] ids = r.HashIds;
        for (int i = 0; i < ids.Length; i++)
        {
            if (i > 0) w.Write(", ");
            Number(w, ids[i], buf);
        }
        w.Write("]}\n");
    }

    private static void Number(TextWriter w, long v, Span<char> buf)
    {
        v.TryFormat(buf, out int n, default, CultureInfo.InvariantCulture);
        w.Write(buf[..n]);
    }
}
