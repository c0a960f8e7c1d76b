using System.Text.Json;
using Strata.Chat;
using Strata.Tests.Tokenizers;

namespace Strata.Tests.Chat;

/// <summary>
/// Renders real chat templates (Llama 3 and Qwen3 from their tokenizer_config.json, and well-known inline ones) and
/// requires Strata's output to equal Hugging Face's exactly: chat-reference.json holds, per case, the rendering by
/// transformers.js (@huggingface/jinja, "output") where that parser copes with the template, and by Python Jinja2 set up as
/// transformers does ("py_output"); both are produced by tests/chat-reference.mjs | tests/chat-reference.py.
/// A template's raise_exception must surface as a ChatTemplateException with the same message.
/// </summary>
[Collection("vocab")]
public class ChatReferenceTests(VocabFixture fx)
{
    private static readonly JsonElement Reference = JsonDocument.Parse(
        File.ReadAllText(Path.Combine(VocabFixture.RepoRoot, "tests", "Strata.Tests", "Chat", "chat-reference.json"))).RootElement;

    public static TheoryData<string> Templates()
    {
        var data = new TheoryData<string>();
        foreach (var t in Reference.GetProperty("templates").EnumerateArray()) data.Add(t.GetProperty("name").GetString()!);
        return data;
    }

    [Theory]
    [MemberData(nameof(Templates))]
    public void RendersLikeHuggingFace(string name)
    {
        _ = fx;
        var t = Reference.GetProperty("templates").EnumerateArray().Single(x => x.GetProperty("name").GetString() == name);
        string source = t.GetProperty("source").ValueKind == JsonValueKind.String
            ? t.GetProperty("source").GetString()!
            : JsonDocument.Parse(File.ReadAllText(Path.Combine(VocabFixture.CacheDir, t.GetProperty("tokenizer").GetString()!, "tokenizer_config.json")))
                .RootElement.GetProperty("chat_template").GetString()!;
        var template = ChatTemplate.Parse(source);
        string? bos = t.GetProperty("bos_token").ValueKind == JsonValueKind.String ? t.GetProperty("bos_token").GetString() : null;
        string? eos = t.GetProperty("eos_token").ValueKind == JsonValueKind.String ? t.GetProperty("eos_token").GetString() : null;
        var conversations = Reference.GetProperty("conversations");
        var extras = Reference.GetProperty("extras");
        int checkedNode = 0, checkedPy = 0;
        foreach (var c in t.GetProperty("cases").EnumerateArray())
        {
            string conv = c.GetProperty("conversation").GetString()!;
            var messages = conversations.GetProperty(conv).EnumerateArray()
                .Select(m => new ChatMessage(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!)).ToList();
            bool addGen = c.GetProperty("add_generation_prompt").GetBoolean();
            var extraJson = extras.GetProperty(c.GetProperty("extra").GetString()!);
            var extra = extraJson.ValueKind == JsonValueKind.Object
                ? extraJson.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value)
                : null;
            string label = $"{name}/{conv}/gen={addGen}/extra={c.GetProperty("extra").GetString()}";

            string? actual = null, error = null;
            try
            {
                actual = template.Render(messages, addGen, bos, eos, extra);
            }
            catch (ChatTemplateException e)
            {
                error = e.Message;
            }
            if (c.TryGetProperty("py_output", out var py))
            {
                Assert.True(error is null, $"{label}: unexpected error {error}");
                Assert.True(py.GetString() == actual, $"{label}: differs from Python Jinja2\nexpected: {Show(py.GetString())}\nactual:   {Show(actual)}");
                checkedPy++;
            }
            else
            {
                string expectedError = c.GetProperty("py_error").GetString()!;
                Assert.True(expectedError == error, $"{label}: expected error '{expectedError}', got {(error is null ? "output " + Show(actual) : "'" + error + "'")}");
            }
            if (c.TryGetProperty("output", out var node))
            {
                Assert.Equal(node.GetString(), actual);
                checkedNode++;
            }
        }
        Assert.True(checkedPy > 0);
    }

    private static string Show(string? s) => s is null ? "(null)" : JsonSerializer.Serialize(s);
}
