using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using StrataMessage = Strata.Chat.ChatMessage;

namespace Strata.Extensions.AI;

/// <summary>
/// The messages of each conversation named by <see cref="Microsoft.Extensions.AI.ChatOptions.ConversationId"/>, so a
/// caller sends only a turn's new messages. The KV of earlier turns is found again by content (the prefix cache names
/// blocks by their tokens), so a conversation's next turn reuses it. With a KV directory the messages are kept beside
/// the KV blocks (<c>DIR/conversations/</c>), and a new process finds both. In memory, the most recently used
/// conversations are kept (at most <see cref="MaxInMemory"/>); on disk, all of them.
/// </summary>
internal sealed class ConversationStore(string? kvDirectory, ILogger log)
{
    public const int MaxInMemory = 1024;
    private readonly string? _dir = kvDirectory is null ? null : Path.Combine(kvDirectory, "conversations");
    private readonly Dictionary<string, LinkedListNode<(string Id, StrataMessage[] Messages)>> _byId = new();
    private readonly LinkedList<(string Id, StrataMessage[] Messages)> _recent = new();
    private readonly object _lock = new();

    /// <summary>The conversation's messages so far; none for a conversation not seen before.</summary>
    public StrataMessage[] Get(string id)
    {
        Check(id);
        lock (_lock)
        {
            if (_byId.TryGetValue(id, out var node))
            {
                _recent.Remove(node);
                _recent.AddFirst(node);
                return node.Value.Messages;
            }
        }
        var loaded = Load(id) ?? [];
        if (loaded.Length > 0) Remember(id, loaded);
        return loaded;
    }

    /// <summary>Replaces the conversation's messages (the turn's, with the answer appended).</summary>
    public void Set(string id, StrataMessage[] messages)
    {
        Check(id);
        Remember(id, messages);
        Save(id, messages);
    }

    private static void Check(string id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 1024) throw new ArgumentException("ConversationId must be 1 to 1024 characters", nameof(id));
    }

    private void Remember(string id, StrataMessage[] messages)
    {
        lock (_lock)
        {
            if (_byId.Remove(id, out var old)) _recent.Remove(old);
            _byId[id] = _recent.AddFirst((id, messages));
            while (_recent.Count > MaxInMemory)
            {
                _byId.Remove(_recent.Last!.Value.Id);
                _recent.RemoveLast();
            }
        }
    }

    private string? FileOf(string id) =>
        _dir is null ? null : Path.Combine(_dir, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id))) + ".json");

    private StrataMessage[]? Load(string id)
    {
        if (FileOf(id) is not { } file || !File.Exists(file)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
            if (doc.RootElement.GetProperty("id").GetString() != id) return null; // a hash collision: not this conversation
            return doc.RootElement.GetProperty("messages").EnumerateArray().Select(ConversationJson.Read).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            log.LogWarning("Strata conversation file {File} could not be read ({Error}); the conversation starts over", file, e.Message);
            return null;
        }
    }

    private void Save(string id, StrataMessage[] messages)
    {
        if (FileOf(id) is not { } file) return;
        string temp = file + "." + Environment.ProcessId + ".tmp";
        try
        {
            Directory.CreateDirectory(_dir!);
            using (var stream = File.Create(temp))
            using (var w = new Utf8JsonWriter(stream))
            {
                w.WriteStartObject();
                w.WriteString("id", id);
                w.WriteStartArray("messages");
                foreach (var m in messages) ConversationJson.Write(w, m);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            File.Move(temp, file, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogWarning("Strata conversation could not be saved to {File} ({Error}); it is kept in memory only", file, e.Message);
            try { File.Delete(temp); } catch (IOException) { }
        }
    }
}

/// <summary>A stored message as JSON: role and content, and the optional fields (calls, the call answered, the
/// function's name, reasoning) only when set.</summary>
internal static class ConversationJson
{
    public static void Write(Utf8JsonWriter w, StrataMessage m)
    {
        w.WriteStartObject();
        w.WriteString("role", m.Role);
        w.WriteString("content", m.Content);
        if (m.ToolCalls is { Count: > 0 } calls)
        {
            w.WriteStartArray("tool_calls");
            foreach (var c in calls)
            {
                w.WriteStartObject();
                w.WriteString("id", c.Id);
                w.WriteString("name", c.Name);
                w.WriteString("arguments", c.Arguments);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (m.ToolCallId is not null) w.WriteString("tool_call_id", m.ToolCallId);
        if (m.Name is not null) w.WriteString("name", m.Name);
        if (m.ReasoningContent is not null) w.WriteString("reasoning_content", m.ReasoningContent);
        w.WriteEndObject();
    }

    public static StrataMessage Read(JsonElement e)
    {
        string? Optional(string name) => e.TryGetProperty(name, out var v) ? v.GetString() : null;
        return new StrataMessage(e.GetProperty("role").GetString()!, e.GetProperty("content").GetString()!)
        {
            ToolCalls = e.TryGetProperty("tool_calls", out var calls)
                ? calls.EnumerateArray().Select(c => new Strata.Chat.Tools.ChatToolCall(c.GetProperty("id").GetString()!, c.GetProperty("name").GetString()!, c.GetProperty("arguments").GetString()!)).ToList()
                : null,
            ToolCallId = Optional("tool_call_id"),
            Name = Optional("name"),
            ReasoningContent = Optional("reasoning_content"),
        };
    }
}
