using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Strata.Chat.Output;
using Strata.Chat.Tools;

namespace Strata.Server.Api.Responses;

/// <summary>
/// The output items of a response, built from the parser's events in the order the model wrote them: a reasoning
/// item, message items (output_text), function_call items. When streaming, each step is also sent as the Responses
/// events (output_item.added, content_part.added, output_text.delta, ..., output_item.done); a whole response writes
/// the same items at the end.
/// </summary>
public sealed class ResponseItems(Func<string, Action<Utf8JsonWriter>, Task>? emit)
{
    private enum Kind { Message, FunctionCall, Reasoning }

    private sealed class Item(Kind kind, string id)
    {
        public readonly Kind Kind = kind;
        public readonly string Id = id;
        public readonly StringBuilder Text = new();
        public ChatToolCall? Call;
        public string Status = "in_progress";
    }

    private readonly List<Item> _items = new();
    private Item? _open;

    public static string NewId(string prefix) => prefix + RandomNumberGenerator.GetHexString(32, lowercase: true);

    public async Task AddAsync(IReadOnlyList<ChatOutputEvent> events)
    {
        foreach (var e in events.ToArray())
        {
            switch (e)
            {
                case ContentDelta d: await TextAsync(Kind.Message, d.Text); break;
                case ReasoningDelta r: await TextAsync(Kind.Reasoning, r.Text); break;
                case ToolCallDelta t:
                    await CloseAsync(completed: true);
                    var item = new Item(Kind.FunctionCall, NewId("fc_")) { Call = t.Call };
                    _items.Add(item);
                    int index = _items.Count - 1;
                    if (emit is not null)
                    {
                        await emit("response.output_item.added", w => { w.WriteNumber("output_index", index); w.WritePropertyName("item"); WriteItem(w, item, "in_progress", withText: false); });
                        await emit("response.function_call_arguments.delta", w => { Ids(w, item, index); w.WriteString("delta", t.Call.Arguments); });
                        await emit("response.function_call_arguments.done", w => { Ids(w, item, index); w.WriteString("name", t.Call.Name); w.WriteString("arguments", t.Call.Arguments); });
                        await emit("response.output_item.done", w => { w.WriteNumber("output_index", index); w.WritePropertyName("item"); WriteItem(w, item, "completed", withText: true); });
                    }
                    item.Status = "completed";
                    break;
            }
        }
    }

    /// <summary>The output ended; an item still open is completed, or left incomplete when the output was cut.</summary>
    public Task FinishAsync(bool incomplete) => CloseAsync(completed: !incomplete);

    public bool HasCalls => _items.Any(i => i.Kind == Kind.FunctionCall);

    private async Task TextAsync(Kind kind, string text)
    {
        if (_open is null || _open.Kind != kind)
        {
            await CloseAsync(completed: true);
            var item = new Item(kind, NewId(kind == Kind.Message ? "msg_" : "rs_"));
            _items.Add(item);
            _open = item;
            int at = _items.Count - 1;
            if (emit is not null)
            {
                await emit("response.output_item.added", w => { w.WriteNumber("output_index", at); w.WritePropertyName("item"); WriteItem(w, item, "in_progress", withText: false); });
                if (kind == Kind.Message)
                    await emit("response.content_part.added", w => { Ids(w, item, at); w.WriteNumber("content_index", 0); w.WritePropertyName("part"); WritePart(w, item, ""); });
            }
        }
        var open = _open;
        open.Text.Append(text);
        int index = _items.Count - 1;
        if (emit is not null)
            await emit(open.Kind == Kind.Message ? "response.output_text.delta" : "response.reasoning_text.delta", w =>
            {
                Ids(w, open, index);
                w.WriteNumber("content_index", 0);
                w.WriteString("delta", text);
                if (open.Kind == Kind.Message) EmptyArray(w, "logprobs");
            });
    }

    private async Task CloseAsync(bool completed)
    {
        if (_open is not { } item) return;
        _open = null;
        item.Status = completed ? "completed" : "incomplete";
        int index = _items.IndexOf(item);
        if (emit is null) return;
        string text = item.Text.ToString();
        if (item.Kind == Kind.Message)
        {
            await emit("response.output_text.done", w => { Ids(w, item, index); w.WriteNumber("content_index", 0); w.WriteString("text", text); EmptyArray(w, "logprobs"); });
            await emit("response.content_part.done", w => { Ids(w, item, index); w.WriteNumber("content_index", 0); w.WritePropertyName("part"); WritePart(w, item, text); });
        }
        else await emit("response.reasoning_text.done", w => { Ids(w, item, index); w.WriteNumber("content_index", 0); w.WriteString("text", text); });
        await emit("response.output_item.done", w =>
        {
            w.WriteNumber("output_index", index);
            w.WritePropertyName("item");
            WriteItem(w, item, item.Status, withText: true);
        });
    }

    /// <summary>The output array (every item as it ended).</summary>
    public void WriteOutput(Utf8JsonWriter w)
    {
        w.WriteStartArray("output");
        foreach (var item in _items) WriteItem(w, item, item.Status, withText: true);
        w.WriteEndArray();
    }

    private static void Ids(Utf8JsonWriter w, Item item, int index)
    {
        w.WriteString("item_id", item.Id);
        w.WriteNumber("output_index", index);
    }

    private static void EmptyArray(Utf8JsonWriter w, string name)
    {
        w.WriteStartArray(name);
        w.WriteEndArray();
    }

    private static void WritePart(Utf8JsonWriter w, Item item, string text)
    {
        w.WriteStartObject();
        w.WriteString("type", "output_text");
        w.WriteString("text", text);
        EmptyArray(w, "annotations");
        EmptyArray(w, "logprobs");
        w.WriteEndObject();
    }

    private static void WriteItem(Utf8JsonWriter w, Item item, string status, bool withText)
    {
        w.WriteStartObject();
        w.WriteString("id", item.Id);
        switch (item.Kind)
        {
            case Kind.Message:
                w.WriteString("type", "message");
                w.WriteString("status", status);
                w.WriteString("role", "assistant");
                w.WriteStartArray("content");
                if (withText) WritePart(w, item, item.Text.ToString());
                w.WriteEndArray();
                break;
            case Kind.FunctionCall:
                w.WriteString("type", "function_call");
                w.WriteString("status", status);
                w.WriteString("call_id", item.Call!.Id);
                w.WriteString("name", item.Call.Name);
                w.WriteString("arguments", withText ? item.Call.Arguments : "");
                break;
            case Kind.Reasoning:
                w.WriteString("type", "reasoning");
                EmptyArray(w, "summary");
                w.WriteStartArray("content");
                if (withText)
                {
                    w.WriteStartObject();
                    w.WriteString("type", "reasoning_text");
                    w.WriteString("text", item.Text.ToString());
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                break;
        }
        w.WriteEndObject();
    }
}
