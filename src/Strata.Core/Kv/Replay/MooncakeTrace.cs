using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Strata.Kv.Replay;

/// <summary>
/// Reads and writes request traces in Mooncake's format: JSON lines of
/// <c>{"timestamp": ms, "input_length": tokens, "output_length": tokens, "hash_ids": [ints]}</c>.
/// Every error is one-line and names the file and line.
/// </summary>
public static class MooncakeTrace
{
    public static IReadOnlyList<TraceRequest> Read(string path)
    {
        if (!File.Exists(path)) throw new StrataException($"Trace file '{path}' not found.");
        try
        {
            using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            return ReadLines(reader, path).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StrataException($"Cannot read trace '{path}': {e.Message}", e);
        }
    }

    /// <summary>Parses lines lazily, so a replay can stream a trace larger than memory. Blank lines are skipped.</summary>
    public static IEnumerable<TraceRequest> ReadLines(TextReader reader, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var ids = new List<long>();
        byte[] buf = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            int lineNumber = 0;
            while (reader.ReadLine() is { } line)
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                int max = Encoding.UTF8.GetMaxByteCount(line.Length);
                if (max > buf.Length)
                {
                    ArrayPool<byte>.Shared.Return(buf);
                    buf = ArrayPool<byte>.Shared.Rent(max);
                }
                int n = Encoding.UTF8.GetBytes(line, buf);
                yield return ParseLine(buf.AsSpan(0, n), ids, sourceName, lineNumber);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    private static TraceRequest ParseLine(ReadOnlySpan<byte> utf8, List<long> ids, string source, int lineNumber)
    {
        try
        {
            return MooncakeLine.Parse(utf8, ids);
        }
        catch (MooncakeLine.Problem p)
        {
            throw new StrataException($"Trace '{source}' line {lineNumber}: {p.Message}.");
        }
        catch (JsonException j)
        {
            // The reader's own message ends with a "LineNumber: 0 | ..." location that means nothing here.
            string message = j.Message;
            int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
            if (cut >= 0) message = message[..cut];
            throw new StrataException($"Trace '{source}' line {lineNumber}: bad JSON at byte {j.BytePositionInLine}: {message}", j);
        }
    }

    /// <summary>
    /// Writes the trace atomically: to a temporary file beside <paramref name="path"/>, then renamed over it, so a
    /// reader never sees half a trace.
    /// </summary>
    public static void Write(string path, IEnumerable<TraceRequest> requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        string temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            using (var writer = new StreamWriter(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), 1 << 16))
            {
                int index = 0;
                foreach (var r in requests)
                {
                    Check(r, index++);
                    MooncakeLine.Format(writer, r);
                }
                writer.Flush();
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new StrataException($"Cannot write trace '{path}': {e.Message}", e);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    // Refuse to write what Read would reject, so every written trace reads back.
    private static void Check(TraceRequest r, int index)
    {
        if (r is null) throw new ArgumentException($"Request {index} is null.", nameof(r));
        if (r.Timestamp < 0 || r.InputLength < 0 || r.OutputLength < 0)
            throw new ArgumentException($"Request {index} has a negative timestamp or length.");
        if (r.HashIds is null || r.HashIds.Length > MooncakeLine.MaxHashIds)
            throw new ArgumentException($"Request {index} has no hash ids array or more than {MooncakeLine.MaxHashIds}.");
        foreach (long id in r.HashIds)
            if (id < 0) throw new ArgumentException($"Request {index} has a negative hash id {id}.");
    }

    private static void TryDelete(string file)
    {
        try { File.Delete(file); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
