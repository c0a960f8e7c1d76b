using System.Text.Json;
using Strata.Chat.Output;
using Strata.Chat.Tools;

namespace Strata.Tests.Chat;

/// <summary>
/// The output parser on hand-written model outputs of each family: well-formed calls, parallel calls, text around
/// them, truncated and malformed calls (which must come back as the text they were), and the same answer however the
/// text is split into streamed pieces.
/// </summary>
public class ToolCallParserTests
{
    private static readonly HashSet<string> Names = ["get_weather", "get_time"];

    private static ChatOutputOptions Options(ToolCallFormat f, bool parallel = true, bool reasoning = false) => new()
    {
        Tools = f,
        AllowedNames = Names,
        ParallelCalls = parallel,
        Reasoning = reasoning,
        NewCallId = Ids(),
    };

    private static Func<string> Ids()
    {
        int n = 0;
        return () => $"call_{n++}";
    }

    /// <summary>Parses whole, then in every split into two pieces and in one-character pieces: all must agree.</summary>
    private static ChatOutput Parse(string text, ChatOutputOptions o)
    {
        var whole = ChatOutput.Parse(text, o with { NewCallId = Ids() });
        var pieces = new List<List<string>> { text.Select(c => c.ToString()).ToList() };
        for (int i = 1; i < text.Length; i++) pieces.Add([text[..i], text[i..]]);
        foreach (var split in pieces)
        {
            var parser = new ChatOutputParser(o with { NewCallId = Ids() });
            var streamed = new ChatOutput();
            foreach (var p in split) streamed.Add(parser.Push(p));
            streamed.Add(parser.Finish());
            Assert.Equal(whole.Content, streamed.Content);
            Assert.Equal(whole.Reasoning, streamed.Reasoning);
            Assert.Equal(whole.Calls, streamed.Calls);
        }
        return whole;
    }

    private static void AssertCall(ChatToolCall call, string name, string argumentsJson)
    {
        Assert.Equal(name, call.Name);
        Assert.True(JsonElement.DeepEquals(JsonDocument.Parse(argumentsJson).RootElement, JsonDocument.Parse(call.Arguments).RootElement),
            $"arguments {call.Arguments}, expected {argumentsJson}");
    }

    [Fact]
    public void HermesCallAloneAndWithTextAround()
    {
        var r = Parse("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", Options(ToolCallFormat.Hermes));
        Assert.Equal("", r.Content);
        AssertCall(Assert.Single(r.Calls), "get_weather", """{"city":"Paris"}""");
        Assert.Equal("call_0", r.Calls[0].Id);

        r = Parse("Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\nDone.", Options(ToolCallFormat.Hermes));
        Assert.Equal("Let me check.Done.", r.Content);
        Assert.Single(r.Calls);
    }

    [Fact]
    public void HermesParallelCalls()
    {
        const string text = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n" +
                            "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": \"CET\", \"n\": [1, {\"x\": \"}\"}]}}\n</tool_call>";
        var r = Parse(text, Options(ToolCallFormat.Hermes));
        Assert.Equal("", r.Content);
        Assert.Equal(2, r.Calls.Count);
        AssertCall(r.Calls[0], "get_weather", """{"city":"Paris"}""");
        AssertCall(r.Calls[1], "get_time", """{"zone":"CET","n":[1,{"x":"}"}]}""");
        Assert.Equal(["call_0", "call_1"], r.Calls.Select(c => c.Id));

        // parallel_tool_calls: false keeps the first call only.
        r = Parse(text, Options(ToolCallFormat.Hermes, parallel: false));
        AssertCall(Assert.Single(r.Calls), "get_weather", """{"city":"Paris"}""");
        Assert.Equal("", r.Content);
    }

    [Theory]
    [InlineData("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par")]          // cut in the arguments
    [InlineData("<tool_call>\n{\"name\": \"get_weather\"")]                                           // cut after the name
    [InlineData("<tool_call>\n")]                                                                      // cut after the tag
    [InlineData("I think <tool_call>{\"name\": get_weather}</tool_call> then")]                       // not JSON
    [InlineData("<tool_call>{\"name\": \"rm_rf\", \"arguments\": {}}</tool_call>")]                   // a function not offered
    [InlineData("<tool_call>{\"arguments\": {}}</tool_call>")]                                         // no name
    [InlineData("<tool_call>{\"name\": \"get_weather\", \"arguments\": 42}</tool_call>")]            // arguments not an object
    [InlineData("<tool_call>call get_weather(Paris)</tool_call>")]                                    // prose in the tags
    [InlineData("a <tool_ca")]                                                                         // half a marker at the end
    public void TruncatedOrMalformedCallsAreTextAsWritten(string text)
    {
        var r = Parse(text, Options(ToolCallFormat.Hermes));
        Assert.Empty(r.Calls);
        Assert.Equal(text, r.Content);
    }

    [Fact]
    public void MalformedCallThenGoodOne()
    {
        var r = Parse("<tool_call>{oops}</tool_call>\n<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>", Options(ToolCallFormat.Hermes));
        AssertCall(Assert.Single(r.Calls), "get_time", "{}");
        Assert.Equal("<tool_call>{oops}</tool_call>", r.Content);
    }

    [Fact]
    public void PlainAnswerIsExactlyTheText()
    {
        foreach (var f in Enum.GetValues<ToolCallFormat>())
        {
            const string text = "  The weather {is} fine; [really] <b>ok</b>.\n\n";
            var r = Parse(text, Options(f));
            Assert.Empty(r.Calls);
            Assert.Equal(text, r.Content);
        }
    }

    [Theory]
    [InlineData("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}")]
    [InlineData("<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}")]
    [InlineData("\n {\"type\": \"function\", \"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}")]
    [InlineData("{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Paris\\\"}\"}")]
    public void Llama3JsonCall(string text)
    {
        var r = Parse(text, Options(ToolCallFormat.Llama3));
        Assert.Equal("", r.Content);
        AssertCall(Assert.Single(r.Calls), "get_weather", """{"city":"Paris"}""");
    }

    [Fact]
    public void Llama3SeveralCallsAndText()
    {
        var r = Parse("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}; {\"name\": \"get_time\", \"parameters\": {}}", Options(ToolCallFormat.Llama3));
        Assert.Equal(2, r.Calls.Count);
        Assert.Equal("", r.Content);

        r = Parse("Checking.<|python_tag|>{\"name\": \"get_time\", \"parameters\": {}}", Options(ToolCallFormat.Llama3));
        AssertCall(Assert.Single(r.Calls), "get_time", "{}");
        Assert.Equal("Checking.", r.Content);

        // JSON that is not a call, and a call written mid-answer without the tag, stay text.
        foreach (var text in new[] { "{\"city\": \"Paris\"}", "The call is {\"name\": \"get_time\", \"parameters\": {}}", "{\"name\": \"get_time\", \"param", "<|python_tag|>brave_search.call(query=\"x\")" })
        {
            r = Parse(text, Options(ToolCallFormat.Llama3));
            Assert.Empty(r.Calls);
            Assert.Equal(text, r.Content);
        }
    }

    [Theory]
    [InlineData("[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, {\"name\": \"get_time\", \"arguments\": {}}]")]
    [InlineData("[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_time[ARGS]{}")]
    [InlineData("[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_time[ARGS] {}")]
    public void MistralCalls(string text)
    {
        var r = Parse(text, Options(ToolCallFormat.Mistral));
        Assert.Equal("", r.Content);
        Assert.Equal(2, r.Calls.Count);
        AssertCall(r.Calls[0], "get_weather", """{"city":"Paris"}""");
        AssertCall(r.Calls[1], "get_time", "{}");
    }

    [Theory]
    [InlineData("[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par")]
    [InlineData("[TOOL_CALLS]get_weather[ARGS]{\"city\": ")]
    [InlineData("[TOOL_CALLS]get weather")]
    [InlineData("Sure. [TOOL_CALLS] not json")]
    public void MistralTruncatedOrMalformedIsText(string text)
    {
        var r = Parse(text, Options(ToolCallFormat.Mistral));
        Assert.Empty(r.Calls);
        Assert.Equal(text, r.Content);
    }

    [Theory]
    [InlineData("{\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, {\"name\": \"get_time\", \"arguments\": {}}]}", 2)]
    [InlineData("{\"tool_call\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}}", 1)]
    [InlineData("  {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}  ", 1)]
    public void GenericJson(string text, int calls)
    {
        var r = Parse(text, Options(ToolCallFormat.Generic));
        Assert.Equal(calls, r.Calls.Count);
        AssertCall(r.Calls[0], "get_weather", """{"city":"Paris"}""");
        Assert.Equal("", r.Content);
    }

    [Fact]
    public void ReasoningIsSplitFromContentAndCalls()
    {
        var o = Options(ToolCallFormat.Hermes, reasoning: true);
        var r = Parse("<think>\nThe user wants weather.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", o);
        Assert.Equal("The user wants weather.", r.Reasoning);
        Assert.Equal("", r.Content);
        Assert.Single(r.Calls);

        r = Parse("<think>\nHmm.\n</think>\n\nIt is sunny.", o);
        Assert.Equal("Hmm.", r.Reasoning);
        Assert.Equal("It is sunny.", r.Content);

        // The prompt opened the think tag; the output starts inside it.
        r = Parse("short thought</think>Answer", o with { StartsInReasoning = true });
        Assert.Equal("short thought", r.Reasoning);
        Assert.Equal("Answer", r.Content);

        // Cut while thinking: all reasoning. No think block: all content, exactly.
        r = Parse("<think>\nstill thinking", o);
        Assert.Equal("still thinking", r.Reasoning);
        Assert.Equal("", r.Content);
        r = Parse("No thoughts, <think> later is text.", o);
        Assert.Null(r.Reasoning);
        Assert.Equal("No thoughts, <think> later is text.", r.Content);
    }

    [Fact]
    public void ReasoningWithoutTools()
    {
        var r = Parse("<think>a</think>b", new ChatOutputOptions { Reasoning = true });
        Assert.Equal("a", r.Reasoning);
        Assert.Equal("b", r.Content);
        Assert.Empty(r.Calls);
    }
}
