using System.Text.Json;
using Strata.Chat;
using Strata.Chat.Output;
using Strata.Chat.Tools;
using Strata.Tests.Tokenizers;

namespace Strata.Tests.Chat;

/// <summary>
/// Templates of each tool-calling family (Qwen3's own; Qwen2.5, Hermes, Llama 3.1 and Mistral written in the style of
/// theirs) rendered with tools, assistant tool calls and tool results exactly as Hugging Face renders them
/// (tool-template-reference.json, from tests/tool-template-reference.py: Python Jinja2 set up as transformers does);
/// and each family's rendering of a call, fed back as if the model had written it, parses to that call.
/// </summary>
[Collection("vocab")]
public class ToolTemplateTests(VocabFixture fx)
{
    private static readonly JsonElement Reference = JsonDocument.Parse(
        File.ReadAllText(Path.Combine(VocabFixture.RepoRoot, "tests", "Strata.Tests", "Chat", "tool-template-reference.json"))).RootElement;

    public static TheoryData<string> Templates()
    {
        var data = new TheoryData<string>();
        foreach (var t in Reference.GetProperty("templates").EnumerateArray()) data.Add(t.GetProperty("name").GetString()!);
        return data;
    }

    private static JsonElement Entry(string name) =>
        Reference.GetProperty("templates").EnumerateArray().Single(x => x.GetProperty("name").GetString() == name);

    public static string Source(string name)
    {
        var t = Entry(name);
        return t.GetProperty("file").ValueKind == JsonValueKind.String
            ? File.ReadAllText(Path.Combine(VocabFixture.RepoRoot, "tests", "Strata.Tests", "Chat", "Templates", t.GetProperty("file").GetString()!))
            : JsonDocument.Parse(File.ReadAllText(Path.Combine(VocabFixture.CacheDir, t.GetProperty("tokenizer").GetString()!, "tokenizer_config.json")))
                .RootElement.GetProperty("chat_template").GetString()!;
    }

    /// <summary>A reference conversation as Strata's messages: tool calls with their arguments as JSON text, as the API carries them.</summary>
    public static List<ChatMessage> Conversation(string name) =>
        Reference.GetProperty("conversations").GetProperty(name).EnumerateArray().Select(m => new ChatMessage(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!)
        {
            ToolCalls = m.TryGetProperty("tool_calls", out var calls)
                ? calls.EnumerateArray().Select(c => new ChatToolCall(c.GetProperty("id").GetString()!, c.GetProperty("function").GetProperty("name").GetString()!,
                    c.GetProperty("function").GetProperty("arguments").GetRawText())).ToList()
                : null,
            ToolCallId = m.TryGetProperty("tool_call_id", out var id) ? id.GetString() : null,
            Name = m.TryGetProperty("name", out var n) ? n.GetString() : null,
        }).ToList();

    public static List<object?> Tools() => Reference.GetProperty("tools").EnumerateArray().Select(t => (object?)t).ToList();

    private static string? Str(JsonElement e, string p) => e.GetProperty(p).ValueKind == JsonValueKind.String ? e.GetProperty(p).GetString() : null;

    [Theory]
    [MemberData(nameof(Templates))]
    public void RendersToolsCallsAndResultsLikeHuggingFace(string name)
    {
        _ = fx;
        var t = Entry(name);
        var template = ChatTemplate.Parse(Source(name));
        foreach (var c in t.GetProperty("cases").EnumerateArray())
        {
            string conv = c.GetProperty("conversation").GetString()!;
            var extra = c.GetProperty("kwargs").EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value);
            if (c.GetProperty("tools").GetBoolean()) extra["tools"] = Tools();
            string label = $"{name}/{conv}/tools={c.GetProperty("tools").GetBoolean()}/{c.GetProperty("kwargs").GetRawText()}";
            string? actual = null, error = null;
            try
            {
                actual = template.Render(Conversation(conv), true, Str(t, "bos_token"), Str(t, "eos_token"), extra);
            }
            catch (ChatTemplateException e)
            {
                error = e.Message;
            }
            if (c.TryGetProperty("py_output", out var py))
                Assert.True(py.GetString() == actual, $"{label}: differs from Python Jinja2\nexpected: {JsonSerializer.Serialize(py.GetString())}\nactual:   {JsonSerializer.Serialize(actual ?? error)}");
            else
                Assert.Equal(c.GetProperty("py_error").GetString(), error);
        }
    }

    [Fact]
    public void TemplatesSeeCallsAsHuggingFaceDictsAndOnlyTheFieldsAMessageHas()
    {
        var template = ChatTemplate.Parse(
            "{% for m in messages %}{{ m.role }}:{{ 'tool_calls' in m }}:{{ m.tool_call_id is defined }}" +
            "{% for c in m.tool_calls or [] %}[{{ c.id }} {{ c.type }} {{ c.function.name }} {{ c.function.arguments is mapping }} {{ c.function.arguments | tojson }}]{% endfor %}" +
            "{{ m.name if m.name is defined }};{% endfor %}");
        string text = template.Render(
        [
            new ChatMessage("user", "hi"),
            new ChatMessage("assistant", "") { ToolCalls = [new ChatToolCall("c1", "f", """{"b": [1, 2], "a": "x"}"""), new ChatToolCall("c2", "g", "not json")] },
            new ChatMessage("tool", "r") { ToolCallId = "c1", Name = "f" },
        ], addGenerationPrompt: false, null, null);
        Assert.Equal("user:False:False;assistant:True:False[c1 function f True {\"b\": [1, 2], \"a\": \"x\"}][c2 function g False \"not json\"];tool:False:Truef;", text);
    }

    [Theory]
    [InlineData("qwen2.5", ToolCallFormat.Hermes)]
    [InlineData("hermes", ToolCallFormat.Hermes)]
    [InlineData("qwen3", ToolCallFormat.Hermes)]
    [InlineData("llama3.1", ToolCallFormat.Llama3)]
    [InlineData("mistral", ToolCallFormat.Mistral)]
    public void TheFamilysOwnRenderingOfACallParsesBack(string name, ToolCallFormat expected)
    {
        _ = fx;
        string source = Source(name);
        Assert.Equal(expected, ToolCallFormats.Detect(source, null));
        var template = ChatTemplate.Parse(source);
        var t = Entry(name);
        string? bos = Str(t, "bos_token"), eos = Str(t, "eos_token");
        var extra = new Dictionary<string, object?> { ["tools"] = Tools() };
        foreach (var conv in new[] { "called", "called_with_text", "parallel" })
        {
            var messages = Conversation(conv);
            int a = messages.FindIndex(m => m.ToolCalls is not null);
            string prompt, full;
            try
            {
                prompt = template.Render(messages[..a], addGenerationPrompt: true, bos, eos, extra);
                full = template.Render(messages[..(a + 1)], addGenerationPrompt: false, bos, eos, extra);
            }
            catch (ChatTemplateException)
            {
                continue; // Llama 3.1 refuses parallel calls in history
            }
            // What the model would have generated: the assistant turn up to its end-of-turn token. (Mistral's template
            // moves the system text to the last user turn, so there the turn starts after the last [/INST].)
            string generated = full.StartsWith(prompt, StringComparison.Ordinal) ? full[prompt.Length..]
                : expected == ToolCallFormat.Mistral ? full[(full.LastIndexOf("[/INST]", StringComparison.Ordinal) + "[/INST]".Length)..]
                : throw new Xunit.Sdk.XunitException($"{name}: the prompt is not a prefix of the rendered turn");
            foreach (var end in new[] { "<|im_end|>\n", "<|eot_id|>", "</s>" })
                if (generated.EndsWith(end, StringComparison.Ordinal)) generated = generated[..^end.Length];
            var output = ChatOutput.Parse(generated, new ChatOutputOptions
            {
                Tools = expected,
                AllowedNames = new HashSet<string> { "get_weather", "get_time" },
                Reasoning = source.Contains("<think>", StringComparison.Ordinal),
            });
            var want = messages[a].ToolCalls!;
            Assert.Equal(want.Count, output.Calls.Count);
            for (int i = 0; i < want.Count; i++)
            {
                Assert.Equal(want[i].Name, output.Calls[i].Name);
                Assert.True(JsonElement.DeepEquals(JsonDocument.Parse(want[i].Arguments).RootElement, JsonDocument.Parse(output.Calls[i].Arguments).RootElement));
            }
            // Content next to the calls comes back where the template writes it (Hermes and Llama 3.1 leave it out).
            string content = messages[a].Content;
            Assert.Equal(content.Length > 0 && generated.Contains(content, StringComparison.Ordinal) ? content : "", output.Content);
        }
    }
}
