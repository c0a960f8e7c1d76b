using Microsoft.Extensions.AI;
using Strata.Engine;
using Strata.Engine.Serving;
using Strata.Extensions.AI;
using Strata.Sampling;
using Strata.Tests.Support;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace Strata.Tests.Extensions;

/// <summary>
/// StrataChatClient through Microsoft.Extensions.AI's own types, on the shipped tiny model (its own chat template):
/// streaming and whole answers, the options honoured, usage, metadata and services, bad options refused.
/// </summary>
public sealed class TinyChatClientFixture : IDisposable
{
    public StrataChatClient Client { get; } = new(new StrataOptions
    {
        ModelPath = Server.ServerFixture.ModelPath,
        Threads = 2,
        Context = 256,
        Parallel = 2,
    });

    public void Dispose() => Client.Dispose();
}

public class StrataChatClientTests(TinyChatClientFixture f) : IClassFixture<TinyChatClientFixture>
{
    private IChatClient Client => f.Client;

    private static List<ChatMessage> Psalm() => [new(ChatRole.System, "Answer with the verse."), new(ChatRole.User, "Psalms 23:1")];

    private static ChatOptions Greedy(int max) => new() { Temperature = 0, MaxOutputTokens = max };

    [Fact]
    public async Task StreamingGivesTextAsItArrivesAndTheSameAnswerAsWhole()
    {
        var whole = await Client.GetResponseAsync(Psalm(), Greedy(16));
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in Client.GetStreamingResponseAsync(Psalm(), Greedy(16))) updates.Add(u);

        Assert.True(updates.Count(u => u.Text.Length > 0) > 1, "text comes in several updates");
        Assert.All(updates, u => Assert.Equal(ChatRole.Assistant, u.Role));
        Assert.Single(updates.Select(u => u.ResponseId).Distinct());
        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.False(string.IsNullOrWhiteSpace(whole.Text));
        var streamed = updates.ToChatResponse();
        Assert.Equal(whole.FinishReason, streamed.FinishReason);
        Assert.Equal(whole.Usage!.OutputTokenCount, streamed.Usage!.OutputTokenCount);

        Assert.Equal("strata-tiny", whole.ModelId);
        Assert.Null(whole.ConversationId); // stateless unless a conversation id is given
        var prompt = Strata.Chat.ChatPrompt.Tokens(f.Client.Model, Strata.Chat.ChatPrompt.TemplateFor(f.Client.Model),
            [new("system", "Answer with the verse."), new("user", "Psalms 23:1")]);
        Assert.Equal(prompt.Length, whole.Usage.InputTokenCount);
        Assert.True(whole.Usage.OutputTokenCount is > 0 and <= 16);
        Assert.Equal(whole.Usage.InputTokenCount + whole.Usage.OutputTokenCount, whole.Usage.TotalTokenCount);
        Assert.Equal(whole.FinishReason == ChatFinishReason.Length, whole.Usage.OutputTokenCount == 16);
    }

    [Fact]
    public async Task MaxOutputTokensBoundsTheAnswer()
    {
        var r = await Client.GetResponseAsync(Psalm(), new ChatOptions { MaxOutputTokens = 3, Temperature = 1, Seed = 5 });
        Assert.Equal(3, r.Usage!.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Length, r.FinishReason);
    }

    [Fact]
    public async Task ASeedReproducesAndAnotherSeedDiffers()
    {
        var options = new ChatOptions { Temperature = 1.2f, TopP = 1, Seed = 42, MaxOutputTokens = 24 };
        var a = await Client.GetResponseAsync(Psalm(), options);
        var b = await Client.GetResponseAsync(Psalm(), options.Clone());
        Assert.Equal(a.Text, b.Text);
        var others = new List<string>();
        for (long seed = 1; seed <= 3; seed++) others.Add((await Client.GetResponseAsync(Psalm(), new ChatOptions { Temperature = 1.2f, Seed = seed, MaxOutputTokens = 24 })).Text);
        Assert.Contains(others, t => t != a.Text);
    }

    [Fact]
    public async Task AStopSequenceEndsTheAnswerBeforeIt()
    {
        var full = (await Client.GetResponseAsync(Psalm(), Greedy(24))).Text;
        int at = full.IndexOf(' ', Math.Min(6, full.Length - 1));
        Assert.True(at > 0, full);
        string stop = full.Substring(at, Math.Min(4, full.Length - at));
        var options = Greedy(24);
        options.StopSequences = [stop];
        var stopped = await Client.GetResponseAsync(Psalm(), options);
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
    }

    [Fact]
    public async Task InstructionsJoinTheSystemTurn()
    {
        var r = await Client.GetResponseAsync([new(ChatRole.User, "Psalms 23:1")], new ChatOptions { Instructions = "Answer with the verse.", Temperature = 0, MaxOutputTokens = 16 });
        var withSystem = await Client.GetResponseAsync(Psalm(), Greedy(16));
        Assert.Equal(withSystem.Usage!.InputTokenCount, r.Usage!.InputTokenCount);
        Assert.Equal(withSystem.Text, r.Text);
        // With a system turn already there, the instructions go in front of it, in the same turn.
        var both = await Client.GetResponseAsync(Psalm(), new ChatOptions { Instructions = "Be brief.", Temperature = 0, MaxOutputTokens = 4 });
        var expected = Strata.Chat.ChatPrompt.Tokens(f.Client.Model, Strata.Chat.ChatPrompt.TemplateFor(f.Client.Model),
            [new("system", "Be brief.\n\nAnswer with the verse."), new("user", "Psalms 23:1")]);
        Assert.Equal(expected.Length, both.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task PenaltiesAndStrataKnobsReachTheSampler()
    {
        // The client's answer equals the engine's under the same sampler settings, and the settings change the answer.
        var prompt = Strata.Chat.ChatPrompt.Tokens(f.Client.Model, Strata.Chat.ChatPrompt.TemplateFor(f.Client.Model),
            [new("system", "Answer with the verse."), new("user", "Psalms 23:1")]);
        var sampler = SamplerOptions.Greedy with { RepeatPenalty = 1.8f, PenaltyLastN = -1, PresencePenalty = 0.5f, FrequencyPenalty = 0.25f, MinP = 0.1f };
        var expected = new Generator(f.Client.Model).Generate(prompt, new GenerationOptions { MaxTokens = 32, Sampling = sampler });
        var plain = await Client.GetResponseAsync(Psalm(), Greedy(32));
        var options = Greedy(32);
        options.PresencePenalty = 0.5f;
        options.FrequencyPenalty = 0.25f;
        options.AdditionalProperties = new() { ["repeat_penalty"] = 1.8, ["repeat_last_n"] = -1, ["min_p"] = "0.1" };
        var penalised = await Client.GetResponseAsync(Psalm(), options);
        Assert.Equal(expected.Text, penalised.Text);
        Assert.NotEqual(plain.Text, penalised.Text);
    }

    [Fact]
    public async Task TopKAndTopPReachTheSampler()
    {
        var greedy = (await Client.GetResponseAsync(Psalm(), Greedy(24))).Text;
        var sampled = new List<string>();
        for (long seed = 1; seed <= 3; seed++)
        {
            // Hot sampling with a seed wanders from the greedy answer; keeping only the top token (or the smallest
            // nucleus) brings it back, whatever the temperature.
            sampled.Add((await Client.GetResponseAsync(Psalm(), new ChatOptions { Temperature = 1.5f, Seed = seed, MaxOutputTokens = 24 })).Text);
            Assert.Equal(greedy, (await Client.GetResponseAsync(Psalm(), new ChatOptions { Temperature = 1.5f, Seed = seed, TopK = 1, MaxOutputTokens = 24 })).Text);
            Assert.Equal(greedy, (await Client.GetResponseAsync(Psalm(), new ChatOptions { Temperature = 1.5f, Seed = seed, TopP = 1e-6f, MaxOutputTokens = 24 })).Text);
        }
        Assert.Contains(sampled, t => t != greedy);
    }

    [Fact]
    public async Task AClientMadeFromAPathAnswersAsTheConfiguredOne()
    {
        using var byPath = new StrataChatClient(Server.ServerFixture.ModelPath);
        Assert.Equal("strata-tiny", byPath.GetService<ChatClientMetadata>()!.DefaultModelId);
        Assert.Equal((await Client.GetResponseAsync(Psalm(), Greedy(12))).Text, (await byPath.GetResponseAsync(Psalm(), Greedy(12))).Text);
    }

    [Fact]
    public void AToolResultSentAloneIsNamedByTheCallInTheStoredConversation()
    {
        // UseFunctionInvocation on a conversation id sends only the result; its function's name is in the history.
        Strata.Chat.ChatMessage[] history =
        [
            new("user", "Weather in Paris?"),
            new("assistant", "") { ToolCalls = [new Strata.Chat.Tools.ChatToolCall("call_7", "get_weather", "{\"city\":\"Paris\"}")] },
        ];
        var mapped = ChatMessageMapping.ToStrata([new ChatMessage(ChatRole.Tool, [new FunctionResultContent("call_7", "sunny")])], history);
        var tool = Assert.Single(mapped);
        Assert.Equal(("tool", "sunny", "call_7", "get_weather"), (tool.Role, tool.Content, tool.ToolCallId, tool.Name));
        Assert.Null(Assert.Single(ChatMessageMapping.ToStrata([new ChatMessage(ChatRole.Tool, [new FunctionResultContent("call_8", "x")])], history)).Name);
    }

    [Fact]
    public async Task BadOptionsAreRefusedByName()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Client.GetResponseAsync(Psalm(), new ChatOptions { AdditionalProperties = new() { ["min_p"] = "lots" } }));
        Assert.Contains("min_p", e.Message);
        e = await Assert.ThrowsAsync<ArgumentException>(() => Client.GetResponseAsync(Psalm(), new ChatOptions { TopP = 2 }));
        Assert.Contains("top-p", e.Message);
        e = await Assert.ThrowsAsync<ArgumentException>(() => Client.GetResponseAsync(Psalm(), new ChatOptions { MaxOutputTokens = 0 }));
        Assert.Contains("MaxOutputTokens", e.Message);
        e = await Assert.ThrowsAsync<ArgumentException>(() => Client.GetResponseAsync(Psalm(), new ChatOptions { ModelId = "gpt-4o" }));
        Assert.Contains("strata-tiny", e.Message);
        await Assert.ThrowsAsync<NotSupportedException>(() => Client.GetResponseAsync(
            [new ChatMessage(ChatRole.User, [new DataContent(new byte[] { 1, 2 }, "image/png")])]));
        e = await Assert.ThrowsAsync<ArgumentException>(() => Client.GetResponseAsync([new ChatMessage(ChatRole.User, new string('x', 2000))]));
        Assert.Contains("context", e.Message);
        // The model's own names are accepted.
        Assert.NotNull(await Client.GetResponseAsync(Psalm(), new ChatOptions { ModelId = "strata-tiny.gguf", MaxOutputTokens = 1 }));
    }

    [Fact]
    public void ServicesAndMetadata()
    {
        var metadata = Client.GetService<ChatClientMetadata>();
        Assert.Equal("strata", metadata!.ProviderName);
        Assert.Equal("strata-tiny", metadata.DefaultModelId);
        Assert.Same(f.Client.Model, Client.GetService<Model>());
        Assert.Same(f.Client.Engine, Client.GetService<InferenceEngine>());
        Assert.Same(f.Client.Engine, Client.GetService<IInferenceEngine>());
        Assert.Same(f.Client, Client.GetService<StrataChatClient>());
        Assert.Null(Client.GetService<Model>("some key"));
    }
}
