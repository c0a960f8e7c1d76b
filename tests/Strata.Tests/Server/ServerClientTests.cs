#pragma warning disable OPENAI001 // ChatCompletionOptions.Seed is marked experimental
using System.ClientModel;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AiChatRole = Microsoft.Extensions.AI.ChatRole;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;

namespace Strata.Tests.Server;

/// <summary>The server driven by clients nobody here wrote: the official OpenAI .NET library and its IChatClient.</summary>
[Collection("Server")]
public class ServerClientTests(ServerFixture f)
{
    private ChatClient Chat() => new("strata-tiny", new ApiKeyCredential("unused"),
        new OpenAIClientOptions { Endpoint = new Uri(f.BaseAddress, "/v1"), NetworkTimeout = TimeSpan.FromSeconds(60) });

    private static List<OpenAI.Chat.ChatMessage> Psalm() => [new SystemChatMessage("Answer with the verse."), new UserChatMessage("Psalms 23:1")];

    [Fact]
    public async Task CompletesWithSeedReproduciblyAndReportsUsage()
    {
        var chat = Chat();
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 12, Seed = 42, Temperature = 1.0f };
        ChatCompletion a = await chat.CompleteChatAsync(Psalm(), options);
        ChatCompletion b = await chat.CompleteChatAsync(Psalm(), options);
        Assert.StartsWith("chatcmpl-", a.Id);
        Assert.Equal("strata-tiny", a.Model);
        Assert.Matches("^fp_[0-9a-f]{16}$", a.SystemFingerprint);
        Assert.False(string.IsNullOrEmpty(a.Content[0].Text));
        Assert.Equal(a.Content[0].Text, b.Content[0].Text); // same seed, same answer
        Assert.True(a.Usage.OutputTokenCount is > 0 and <= 12);
        Assert.Equal(a.FinishReason == ChatFinishReason.Length, a.Usage.OutputTokenCount == 12);
        // The prompt is the model's template over both messages, tokenized as the CLI's chat does.
        var template = Strata.Chat.ChatPrompt.TemplateFor(f.Model);
        int prompt = Strata.Chat.ChatPrompt.Tokens(f.Model, template, [new("system", "Answer with the verse."), new("user", "Psalms 23:1")]).Length;
        Assert.Equal(prompt, a.Usage.InputTokenCount);
        Assert.Equal(a.Usage.InputTokenCount + a.Usage.OutputTokenCount, a.Usage.TotalTokenCount);
    }

    [Fact]
    public async Task StreamingGivesTheSameTextAsWholeAndUsageLast()
    {
        var chat = Chat();
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 16, Temperature = 0 };
        ChatCompletion whole = await chat.CompleteChatAsync(Psalm(), options);
        var text = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var u in chat.CompleteChatStreamingAsync(Psalm(), options))
        {
            foreach (var part in u.ContentUpdate) text.Append(part.Text);
            finish ??= u.FinishReason;
            usage ??= u.Usage;
        }
        Assert.Equal(whole.Content[0].Text, text.ToString());
        Assert.Equal(whole.FinishReason, finish);
        Assert.NotNull(usage); // the client asks for include_usage
        Assert.Equal(whole.Usage.OutputTokenCount, usage.OutputTokenCount);
    }

    [Fact]
    public async Task StopStringEndsTheAnswerBeforeIt()
    {
        var chat = Chat();
        ChatCompletion full = await chat.CompleteChatAsync(Psalm(), new ChatCompletionOptions { MaxOutputTokenCount = 24, Temperature = 0 });
        string text = full.Content[0].Text;
        // A stop string from the middle of the greedy answer.
        int at = text.IndexOf(' ', Math.Min(6, text.Length - 1));
        Assert.True(at > 0, text);
        string stop = text.Substring(at, Math.Min(4, text.Length - at));
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 24, Temperature = 0 };
        options.StopSequences.Add(stop);
        ChatCompletion stopped = await chat.CompleteChatAsync(Psalm(), options);
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], stopped.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
    }

    [Fact]
    public async Task LogprobsComeInOpenAisShape()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 6, Temperature = 0, IncludeLogProbabilities = true, TopLogProbabilityCount = 3 };
        ChatCompletion c = await Chat().CompleteChatAsync(Psalm(), options);
        Assert.Equal(c.Usage.OutputTokenCount, c.ContentTokenLogProbabilities.Count);
        foreach (var t in c.ContentTokenLogProbabilities)
        {
            Assert.True(t.LogProbability <= 0);
            Assert.Equal(3, t.TopLogProbabilities.Count);
            // Greedy: the chosen token is the most likely one.
            Assert.Equal(t.TopLogProbabilities[0].LogProbability, t.LogProbability, 4);
            Assert.Equal(t.Token, System.Text.Encoding.UTF8.GetString(t.Utf8Bytes!.Value.Span));
        }
        Assert.Equal(c.Content[0].Text, string.Concat(c.ContentTokenLogProbabilities.Select(t => t.Token)));
    }

    [Fact]
    public async Task IChatClientOverTheOpenAiClient()
    {
        IChatClient client = Chat().AsIChatClient();
        var options = new ChatOptions { MaxOutputTokens = 10, Temperature = 0 };
        List<AiChatMessage> messages = [new(AiChatRole.User, "Genesis 1:1")];
        var response = await client.GetResponseAsync(messages, options);
        Assert.False(string.IsNullOrEmpty(response.Text));
        Assert.True(response.Usage?.OutputTokenCount is > 0 and <= 10);
        var streamed = new System.Text.StringBuilder();
        await foreach (var update in client.GetStreamingResponseAsync(messages, options)) streamed.Append(update.Text);
        Assert.Equal(response.Text, streamed.ToString());
    }
}
