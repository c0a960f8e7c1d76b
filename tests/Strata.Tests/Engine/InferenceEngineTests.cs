using Strata.Engine;
using Strata.Engine.Serving;
using Strata.Kv;
using Strata.Sampling;
using Strata.Tests.Support;

namespace Strata.Tests.Engine;

public class InferenceEngineTests
{
    private static readonly ModelSpec Spec = new("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 300);

    private static int[] Prompt(int n, int seed) => TestModels.RandomTokens(Spec.Vocab, n, seed);

    private static GenerationOptions Greedy(int n) => new() { MaxTokens = n, Sampling = SamplerOptions.Greedy };

    private sealed record Outcome(int[][] Tokens, string[] Text, StopReason[] Reasons, UsageEvent Usage, List<InferenceEvent> Events);

    private static async Task<Outcome> Collect(IInferenceEngine engine, InferenceRequest r, CancellationToken cancel = default)
    {
        var events = new List<InferenceEvent>();
        await foreach (var e in engine.RunAsync(r, cancel)) events.Add(e);
        var tokens = Enumerable.Range(0, r.Choices).Select(c => events.OfType<TokenEvent>().Where(t => t.Choice == c).Select(t => t.Token).ToArray()).ToArray();
        var text = Enumerable.Range(0, r.Choices).Select(c => string.Concat(events.Where(e => e is TokenEvent t && t.Choice == c || e is FinishEvent f && f.Choice == c)
            .Select(e => e is TokenEvent t ? t.Text : ((FinishEvent)e).Text))).ToArray();
        var reasons = Enumerable.Range(0, r.Choices).Select(c => events.OfType<FinishEvent>().Single(f => f.Choice == c).Reason).ToArray();
        return new Outcome(tokens, text, reasons, Assert.IsType<UsageEvent>(events[^1]), events);
    }

    [Fact]
    public async Task ConcurrentRequestsGiveWhatEachGivesAlone()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec, dir.Path);
        var prompts = Enumerable.Range(0, 6).Select(i => Prompt(5 + 23 * i, 40 + i)).ToArray();
        using var alone = Model.Load(path, new ModelOptions { Threads = 2, Context = 256 });
        var expected = prompts.Select(p => new Generator(alone).Generate(p, Greedy(24))).ToArray();

        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256, MaxSequences = 4 });
        using var engine = new InferenceEngine(model, new EngineOptions { MaxRunning = 4, StepTokenBudget = 32 });
        var results = await Task.WhenAll(prompts.Select(p => Collect(engine, new InferenceRequest { Prompt = p, Generation = Greedy(24) })));
        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(expected[i].Tokens, results[i].Tokens[0]);
            Assert.Equal(expected[i].Text, results[i].Text[0]);
            Assert.Equal(prompts[i].Length, results[i].Usage.PromptTokens);
            Assert.Equal(expected[i].Tokens.Length, results[i].Usage.CompletionTokens);
        }
        Assert.Equal(new EngineLoad(0, 0), engine.Load);
        Assert.Equal(model.KvPool.Capacity, model.KvPool.FreeBlocks); // every block given back (cached ones are evictable)
    }

    [Fact]
    public async Task ChoicesShareThePromptAndDifferBySeed()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec, dir.Path);
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256, MaxSequences = 2 });
        using var engine = new InferenceEngine(model, new EngineOptions { MaxRunning = 2 });
        var prompt = Prompt(50, 3);
        var sampling = new SamplerOptions { Temperature = 1.5f, TopK = 0, TopP = 1, MinP = 0, Seed = 11 };
        var r = new InferenceRequest { Prompt = prompt, Choices = 2, Generation = new GenerationOptions { MaxTokens = 16, Sampling = sampling } };
        var a = await Collect(engine, r);
        var b = await Collect(engine, r);
        Assert.Equal(a.Tokens[0], b.Tokens[0]);           // a seed reproduces
        Assert.Equal(a.Tokens[1], b.Tokens[1]);
        Assert.NotEqual(a.Tokens[0], a.Tokens[1]);        // the two choices differ
        Assert.Equal(48, b.Usage.CachedTokens);           // the repeated prompt came from the cache
    }

    [Fact]
    public async Task StopStringsLogprobsAndLimitsAreReported()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec, dir.Path);
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256 });
        using var engine = new InferenceEngine(model);
        var prompt = Prompt(12, 8);
        var full = new Generator(model).Generate(prompt, Greedy(20));
        string stop = full.Text.Length > 6 ? full.Text.Substring(3, 3) : full.Text;
        var r = await Collect(engine, new InferenceRequest { Prompt = prompt, Generation = Greedy(20) with { StopStrings = [stop] }, TopLogprobs = 3 });
        Assert.Equal(StopReason.StopString, r.Reasons[0]);
        Assert.Equal(full.Text[..full.Text.IndexOf(stop, StringComparison.Ordinal)], r.Text[0]);
        foreach (var t in r.Events.OfType<TokenEvent>())
        {
            Assert.NotNull(t.Logprobs);
            Assert.Equal(3, t.Logprobs!.Top.Count);
            Assert.Equal(t.Token, t.Logprobs.Top[0].Token);  // greedy: the chosen token is the most likely
            Assert.True(t.Logprobs.Logprob <= 0 && t.Logprobs.Top[0].Logprob >= t.Logprobs.Top[1].Logprob);
        }
        var limited = await Collect(engine, new InferenceRequest { Prompt = prompt, Generation = Greedy(5) });
        Assert.Equal(StopReason.MaxTokens, limited.Reasons[0]);
        Assert.Equal(5, limited.Tokens[0].Length);
        Assert.Throws<StrataException>(() => engine.RunAsync(new InferenceRequest { Prompt = Prompt(300, 1) }));
    }

    [Fact]
    public async Task CancellingARequestFreesItsBlocksAtOnce()
    {
        using var dir = new TempDir();
        // Big enough, and a continuation long enough, that the generation outlasts the reader seeing three events
        // and cancelling, even on a loaded machine.
        string path = TestModels.Write(Spec with { Dim = 256, Layers = 4, FeedForward = 1024 }, dir.Path);
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 2048 });
        const int long_ = 1500;
        // A prompt whose greedy continuation does not end by itself, so only the cancellation can stop it.
        var prompt = Enumerable.Range(0, 20).Select(seed => Prompt(40, seed))
            .First(p => new Generator(model).Generate(p, Greedy(long_)).StopReason == StopReason.MaxTokens);
        using var engine = new InferenceEngine(model);
        using var cts = new CancellationTokenSource();
        var events = new List<InferenceEvent>();
        // ConfigureAwait(false): the reader's continuations run on the thread pool, not behind other tests.
        await foreach (var e in engine.RunAsync(new InferenceRequest { Prompt = prompt, Generation = Greedy(long_) }, cts.Token).ConfigureAwait(false))
        {
            events.Add(e);
            if (events.Count == 3) cts.Cancel();
        }
        Assert.Equal(StopReason.Cancelled, events.OfType<FinishEvent>().Single().Reason);
        Assert.True(events.OfType<TokenEvent>().Count() < long_);
        Assert.IsType<UsageEvent>(events[^1]);
        Assert.Equal(model.KvPool.Capacity, model.KvPool.FreeBlocks);
    }

    [Fact]
    public async Task OneUsersFloodDoesNotStarveAnother()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec with { Dim = 256, Layers = 4, FeedForward = 1024 }, dir.Path);
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256 });
        using var engine = new InferenceEngine(model, new EngineOptions { MaxRunning = 1 });
        var runs = new List<(string Name, double Submitted, double Started)>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // RunAsync queues synchronously: all eight of the flood's requests are queued before the other user's arrives.
        var flood = Enumerable.Range(0, 8).Select(i => Track(engine, "flood", i, runs, clock, 60)).ToList();
        var other = Track(engine, "other", 0, runs, clock, 8);
        await Task.WhenAll(flood.Append(other));
        // One request runs at a time. Of the flood's requests still waiting when the other user's arrived, at most one
        // (the one already chosen next) may start before it: the flood waits behind its own, not in front of others.
        var me = runs.Single(r => r.Name == "other#0");
        int overtook = runs.Count(r => r.Name.StartsWith("flood") && r.Started > me.Submitted && r.Started < me.Started);
        Assert.True(overtook <= 1, string.Join(" ", runs.OrderBy(r => r.Started).Select(r => $"{r.Name}@{r.Started:F0}")) + $" (other arrived at {me.Submitted:F0})");
        Assert.True(runs.Count(r => r.Name.StartsWith("flood") && r.Started > me.Started) >= 1, "the test needs flood requests still waiting");
    }

    private static async Task Track(IInferenceEngine engine, string user, int i, List<(string, double, double)> runs,
        System.Diagnostics.Stopwatch clock, int tokens)
    {
        double submitted = clock.Elapsed.TotalMilliseconds;
        await foreach (var e in engine.RunAsync(new InferenceRequest { Prompt = Prompt(30, i), Generation = Greedy(tokens), User = user }).ConfigureAwait(false))
            if (e is UsageEvent u) lock (runs) runs.Add(($"{user}#{i}", submitted, submitted + u.QueueMs));
    }

    [Fact]
    public async Task PreemptedSequencesResumeFromTheCacheWithTheSameTokens()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec, dir.Path);
        var prompts = Enumerable.Range(0, 3).Select(i => Prompt(60, 70 + i)).ToArray();
        using var alone = Model.Load(path, new ModelOptions { Threads = 2, Context = 256 });
        var expected = prompts.Select(p => new Generator(alone).Generate(p, Greedy(120)).Tokens).ToArray();
        // DRAM for one context only (16 blocks): three sequences of 180 positions cannot all fit; far memory keeps
        // what is evicted.
        int blockBytes = new KvLayout(Spec.Layers, Spec.Dim / Spec.Heads * Spec.KvHeads, 16).BlockBytes;
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256, Kv = new KvCacheOptions { DramBytes = 16 * blockBytes, FarBytes = 64L * blockBytes } });
        using var engine = new InferenceEngine(model, new EngineOptions { MaxRunning = 3 });
        var results = await Task.WhenAll(prompts.Select(p => Collect(engine, new InferenceRequest { Prompt = p, Generation = Greedy(120) })));
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(expected[i], results[i].Tokens[0]);
    }

    [Fact]
    public async Task APrefixReadFromTheSsdTierRunsBesideOtherSequences()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec, dir.Path);
        var kv = new KvCacheOptions { SsdDirectory = Path.Combine(dir.Path, "kv") };
        var cached = Prompt(200, 31);
        var fresh = Prompt(40, 32);
        int[] expectCached, expectFresh;
        using (var first = Model.Load(path, new ModelOptions { Threads = 2, Context = 256, Kv = kv }))
        {
            expectCached = new Generator(first).Generate(cached, Greedy(20)).Tokens;
            expectFresh = new Generator(first).Generate(fresh, Greedy(20)).Tokens;
            first.KvCache.Pool.DropUnreferenced();
            first.KvCache.Flush(TimeSpan.FromSeconds(30));
        }
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256, MaxSequences = 2, Kv = kv });
        using var engine = new InferenceEngine(model, new EngineOptions { MaxRunning = 2 });
        var both = await Task.WhenAll(
            Collect(engine, new InferenceRequest { Prompt = fresh, Generation = Greedy(20) }),
            Collect(engine, new InferenceRequest { Prompt = cached, Generation = Greedy(20) }));
        Assert.Equal(expectFresh, both[0].Tokens[0]);
        Assert.Equal(expectCached, both[1].Tokens[0]);
        Assert.Equal(192, both[1].Usage.CachedTokens);
        Assert.Equal(12, both[1].Usage.CacheHitsByTier["ssd"]);
    }

    [Fact]
    public void AFullQueueIsRefusedWithRetryAfter()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(Spec, dir.Path);
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = 256 });
        using var engine = new InferenceEngine(model, new EngineOptions { MaxRunning = 1, MaxWaiting = 2 });
        var cts = new CancellationTokenSource();
        var streams = new List<IAsyncEnumerable<InferenceEvent>>();
        var e = Assert.Throws<EngineBusyException>(() =>
        {
            for (int i = 0; i < 10; i++) streams.Add(engine.RunAsync(new InferenceRequest { Prompt = Prompt(30, i), Generation = Greedy(200) }, cts.Token));
        });
        Assert.True(e.RetryAfter > TimeSpan.Zero);
        cts.Cancel();
    }
}
