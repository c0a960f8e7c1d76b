using Microsoft.Extensions.AI;
using Strata.Engine;
using Strata.Extensions.AI;
using Strata.Tests.Support;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace Strata.Tests.Extensions;

/// <summary>StrataChatClient on the engine: concurrent callers batched, cancellation, conversations and their KV.</summary>
public class ChatClientEngineTests
{
    // A random-weight model whose greedy answers do not end by themselves (no chat template: ChatML).
    private static readonly ModelSpec Spec = new("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 300);

    private static ChatOptions Greedy(int? max) => new() { Temperature = 0, MaxOutputTokens = max };

    private static List<ChatMessage> Ask(string text) => [new(ChatRole.User, text)];

    [Fact]
    public async Task ConcurrentCallersAreBatchedAndEachGetsItsSoloAnswer()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec, dir.Path);
        using var client = new StrataChatClient(new StrataOptions { ModelPath = path, Threads = 2, Context = 256, Parallel = 4 });
        string[] questions = ["alpha beta", "gamma", "delta epsilon zeta eta", "theta"];
        var solo = new List<string>();
        foreach (var q in questions) solo.Add((await client.GetResponseAsync(Ask(q), Greedy(24))).Text);
        Assert.Equal(1, client.Engine.PeakBatchSequences);

        // A long answer keeps the engine busy while the others arrive, so they are computed beside it.
        using var stop = new CancellationTokenSource();
        await using var longAnswer = client.GetStreamingResponseAsync(Ask("a long one"), Greedy(null), stop.Token).GetAsyncEnumerator();
        Assert.True(await longAnswer.MoveNextAsync());
        var together = await Task.WhenAll(questions.Select(q => client.GetResponseAsync(Ask(q), Greedy(24))));
        stop.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => { while (await longAnswer.MoveNextAsync()) { } });

        Assert.True(client.Engine.PeakBatchSequences > 1, $"peak batch {client.Engine.PeakBatchSequences}");
        for (int i = 0; i < questions.Length; i++) Assert.Equal(solo[i], together[i].Text);
        Assert.Equal(new Strata.Engine.Serving.EngineLoad(0, 0), client.Engine.Load);
    }

    [Fact]
    public async Task CancellingAStreamFreesItsSequence()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec with { Dim = 128, FeedForward = 256 }, dir.Path);
        using var client = new StrataChatClient(new StrataOptions { ModelPath = path, Threads = 2, Context = 1024, Parallel = 2 });
        using var cancel = new CancellationTokenSource();
        int updates = 0;
        var e = await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var u in client.GetStreamingResponseAsync(Ask("go on"), Greedy(null), cancel.Token))
                if (++updates == 3) cancel.Cancel();
        });
        Assert.Equal(cancel.Token, e.CancellationToken);
        Assert.Equal(3, updates);
        // Thrown only after the engine let go of the sequence: nothing runs, every KV block is back.
        Assert.Equal(new Strata.Engine.Serving.EngineLoad(0, 0), client.Engine.Load);
        Assert.Equal(client.Model.KvPool.Capacity, client.Model.KvPool.FreeBlocks);
        // The client goes on serving.
        Assert.Equal(4, (await client.GetResponseAsync(Ask("again"), Greedy(4))).Usage!.OutputTokenCount);
    }

    private static readonly string System = string.Join(' ', Enumerable.Repeat("In the beginning God created the heaven and the earth.", 4));

    [Fact]
    public async Task AConversationIdKeepsTheTurnsAndTheirKv()
    {
        using var client = new StrataChatClient(new StrataOptions { ModelPath = Server.ServerFixture.ModelPath, Threads = 2, Context = 256, Parallel = 2 });
        var options = new ChatOptions { ConversationId = "psalms", Temperature = 0, MaxOutputTokens = 12 };
        var first = await client.GetResponseAsync([new(ChatRole.System, System), new(ChatRole.User, "Psalms 23:1")], options);
        Assert.Equal("psalms", first.ConversationId);
        Assert.Equal(0, first.Usage!.CachedInputTokenCount);

        // Only the new message is sent: the client holds the conversation, and finds the earlier turn's KV by content.
        var second = await client.GetResponseAsync([new(ChatRole.User, "Psalms 23:2")], options.Clone());
        Assert.Equal("psalms", second.ConversationId);
        var history = Strata.Chat.ChatPrompt.Tokens(client.Model, Strata.Chat.ChatPrompt.TemplateFor(client.Model),
            [new("system", System), new("user", "Psalms 23:1"), new("assistant", first.Text), new("user", "Psalms 23:2")]);
        Assert.Equal(history.Length, second.Usage!.InputTokenCount);
        int firstBlocks = (int)first.Usage.InputTokenCount!.Value / 16 * 16;
        Assert.True(firstBlocks > 0);
        Assert.True(second.Usage.CachedInputTokenCount >= firstBlocks, $"cached {second.Usage.CachedInputTokenCount} of the first turn's {firstBlocks}");

        // Without the id, the same message is a conversation of its own.
        var alone = await client.GetResponseAsync([new(ChatRole.User, "Psalms 23:2")], Greedy(12));
        Assert.True(alone.Usage!.InputTokenCount < 16);
    }

    [Fact]
    public async Task AConversationAndItsKvSurviveARestartWithAKvDirectory()
    {
        using var kv = new TempDir();
        var o = new StrataOptions { ModelPath = Server.ServerFixture.ModelPath, Threads = 2, Context = 256, Parallel = 2, Kv = new StrataKvOptions { Directory = kv.Path } };
        var options = new ChatOptions { ConversationId = "restart", Temperature = 0, MaxOutputTokens = 12 };
        ChatResponse first;
        using (var before = new StrataChatClient(o))
            first = await before.GetResponseAsync([new(ChatRole.System, System), new(ChatRole.User, "Genesis 1:1")], options);
        Assert.True(Directory.EnumerateFiles(Path.Combine(kv.Path, "conversations")).Any());

        using var after = new StrataChatClient(o);
        var second = await after.GetResponseAsync([new(ChatRole.User, "Genesis 1:2")], options.Clone());
        int firstBlocks = (int)first.Usage!.InputTokenCount!.Value / 16 * 16;
        Assert.True(second.Usage!.CachedInputTokenCount >= firstBlocks, $"cached {second.Usage.CachedInputTokenCount} of {firstBlocks}");
        Assert.True(second.Usage.AdditionalCounts!["cached_blocks_ssd"] >= firstBlocks / 16, "the blocks came from the ssd tier");
        Assert.True(second.Usage.InputTokenCount > first.Usage.InputTokenCount + first.Usage.OutputTokenCount);
    }
}
