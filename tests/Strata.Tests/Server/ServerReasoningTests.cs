using System.Text.Json;
using Strata.Server.Hosting;
using Strata.Tests.Support;

namespace Strata.Tests.Server;

/// <summary>
/// A script model with a Qwen3-style thinking template that always thinks first ("&lt;think&gt;\nThe user asks about
/// the weather.\n&lt;/think&gt;\n\nIt is sunny."): the reasoning comes back apart from the answer on every API, whole
/// and streamed, and chat_template_kwargs reach the template.
/// </summary>
public sealed class ThinkingServerFixture : LoopbackServer
{
    public const string Reasoning = "The user asks about the weather.";
    public const string Answer = "It is sunny.";

    protected override StrataServerOptions Options(string dir)
    {
        // Qwen2.5's template with Qwen3's generation prompt: enable_thinking=false writes an empty think block.
        string template = File.ReadAllText(Path.Combine(Strata.Tests.DefaultModel.DefaultModelTests.RepoRoot(), "tests", "Strata.Tests", "Chat", "Templates", "qwen2.5.jinja"))
            .Replace("""
                    {{- '<|im_start|>assistant\n' }}
                """, """
                    {{- '<|im_start|>assistant\n' }}
                    {%- if enable_thinking is defined and enable_thinking is false %}
                        {{- '<think>\n\n</think>\n\n' }}
                    {%- endif %}
                """);
        Assert.Contains("enable_thinking", template);
        var script = new ScriptModel(template, ["<think>", "\n" + Reasoning + "\n", "</think>", "\n\n" + Answer], ["unused"], "<tool_response>");
        return new StrataServerOptions { ModelPath = script.Write(dir), Port = 0, Parallel = 1, Context = 1024, Threads = 2 };
    }
}

public class ServerReasoningTests(ThinkingServerFixture f) : IClassFixture<ThinkingServerFixture>
{
    private const string Ask = """[{"role":"user","content":"Weather?"}]""";

    [Fact]
    public async Task ChatGivesReasoningContentApartWholeAndStreamed()
    {
        var (status, body, _) = await ServerFixture.Post(f.Http, "/v1/chat/completions", $$$"""{"messages":{{{Ask}}}}""");
        Assert.Equal(200, status);
        var message = body.GetProperty("choices")[0].GetProperty("message");
        Assert.Equal(ThinkingServerFixture.Reasoning, message.GetProperty("reasoning_content").GetString());
        Assert.Equal(ThinkingServerFixture.Answer, message.GetProperty("content").GetString());
        Assert.Equal("stop", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        var usage = body.GetProperty("usage");
        Assert.Equal(4, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(3, usage.GetProperty("completion_tokens_details").GetProperty("reasoning_tokens").GetInt32()); // <think>, the thought, </think>

        var chunks = await ServerToolTests.Sse(f.Http, "/v1/chat/completions", $$$"""{"messages":{{{Ask}}},"stream":true}""");
        var deltas = chunks.Where(c => c.Data != "[DONE]").Select(c => JsonDocument.Parse(c.Data).RootElement.GetProperty("choices")[0].GetProperty("delta")).ToList();
        string reasoning = string.Concat(deltas.Select(d => d.TryGetProperty("reasoning_content", out var r) ? r.GetString() : ""));
        string content = string.Concat(deltas.Select(d => d.TryGetProperty("content", out var c) ? c.GetString() : ""));
        Assert.Equal(ThinkingServerFixture.Reasoning, reasoning);
        Assert.Equal(ThinkingServerFixture.Answer, content);
        // All reasoning comes before the answer.
        int lastReasoning = deltas.FindLastIndex(d => d.TryGetProperty("reasoning_content", out _));
        int firstContent = deltas.FindIndex(d => d.TryGetProperty("content", out var c) && c.GetString()!.Length > 0);
        Assert.True(lastReasoning < firstContent);
    }

    [Fact]
    public async Task ChatTemplateKwargsReachTheTemplate()
    {
        var (_, on, _) = await ServerFixture.Post(f.Http, "/v1/chat/completions", $$$"""{"messages":{{{Ask}}},"max_tokens":1}""");
        var (_, off, _) = await ServerFixture.Post(f.Http, "/v1/chat/completions", $$$"""{"messages":{{{Ask}}},"max_tokens":1,"chat_template_kwargs":{"enable_thinking":false}}""");
        int added = f.Server.Host.Model.Tokenizer.Encode("<think>\n\n</think>\n\n", addSpecial: false, parseSpecial: true).Length;
        Assert.Equal(on.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() + added, off.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task ResponsesGiveAReasoningItemFirst()
    {
        var (_, body, _) = await ServerFixture.Post(f.Http, "/v1/responses", """{"input":"Weather?"}""");
        var output = body.GetProperty("output");
        Assert.Equal(2, output.GetArrayLength());
        Assert.Equal("reasoning", output[0].GetProperty("type").GetString());
        Assert.StartsWith("rs_", output[0].GetProperty("id").GetString());
        Assert.Equal(ThinkingServerFixture.Reasoning, output[0].GetProperty("content")[0].GetProperty("text").GetString());
        Assert.Equal("reasoning_text", output[0].GetProperty("content")[0].GetProperty("type").GetString());
        Assert.Equal(ThinkingServerFixture.Answer, output[1].GetProperty("content")[0].GetProperty("text").GetString());
        Assert.Equal(3, body.GetProperty("usage").GetProperty("output_tokens_details").GetProperty("reasoning_tokens").GetInt32());

        var events = await ServerToolTests.Sse(f.Http, "/v1/responses", """{"input":"Weather?","stream":true}""");
        Assert.Equal(["response.created", "response.in_progress", "response.output_item.added", "response.reasoning_text.delta", "response.reasoning_text.done",
            "response.output_item.done", "response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.done",
            "response.content_part.done", "response.output_item.done", "response.completed"], events.Select(e => e.Event));
        Assert.Equal(ThinkingServerFixture.Reasoning, JsonDocument.Parse(events[4].Data).RootElement.GetProperty("text").GetString());
        Assert.Equal(1, JsonDocument.Parse(events[6].Data).RootElement.GetProperty("output_index").GetInt32());
    }

    [Fact]
    public async Task MessagesGiveThinkingBlocksOnlyWhenAsked()
    {
        var (_, plain, _) = await ServerFixture.Post(f.Http, "/v1/messages", $$$"""{"max_tokens":64,"messages":{{{Ask}}}}""");
        var block = Assert.Single(plain.GetProperty("content").EnumerateArray());
        Assert.Equal(ThinkingServerFixture.Answer, block.GetProperty("text").GetString());

        var (_, thinking, _) = await ServerFixture.Post(f.Http, "/v1/messages", $$$"""{"max_tokens":64,"messages":{{{Ask}}},"thinking":{"type":"enabled","budget_tokens":1024}}""");
        var blocks = thinking.GetProperty("content");
        Assert.Equal(2, blocks.GetArrayLength());
        Assert.Equal("thinking", blocks[0].GetProperty("type").GetString());
        Assert.Equal(ThinkingServerFixture.Reasoning, blocks[0].GetProperty("thinking").GetString());
        Assert.Equal(ThinkingServerFixture.Answer, blocks[1].GetProperty("text").GetString());

        var events = await ServerToolTests.Sse(f.Http, "/v1/messages", $$$"""{"max_tokens":64,"stream":true,"messages":{{{Ask}}},"thinking":{"type":"enabled","budget_tokens":1024}}""");
        var data = events.Select(e => JsonDocument.Parse(e.Data).RootElement).ToList();
        var starts = data.Where(d => d.GetProperty("type").GetString() == "content_block_start").Select(d => d.GetProperty("content_block").GetProperty("type").GetString());
        Assert.Equal(["thinking", "text"], starts);
        string streamed = string.Concat(data.Where(d => d.GetProperty("type").GetString() == "content_block_delta" && d.GetProperty("delta").GetProperty("type").GetString() == "thinking_delta")
            .Select(d => d.GetProperty("delta").GetProperty("thinking").GetString()));
        Assert.Equal(ThinkingServerFixture.Reasoning, streamed);
    }
}
