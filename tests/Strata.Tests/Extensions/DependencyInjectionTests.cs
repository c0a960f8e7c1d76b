using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Strata.Engine;
using Strata.Engine.Serving;
using Strata.Extensions.AI;
using Strata.Kv;
using Strata.Models;
using Strata.Tests.Support;

namespace Strata.Tests.Extensions;

/// <summary>AddStrataChatClient / AddStrataEmbeddingGenerator: options from configuration then code, the logger used,
/// the builder's middleware around the client.</summary>
public class DependencyInjectionTests
{
    private sealed class Captured : ILoggerProvider
    {
        public List<string> Lines { get; } = new();
        public ILogger CreateLogger(string category) => new Logger(this, category);
        public void Dispose() { }

        private sealed class Logger(Captured owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel level) => true;
            public void Log<TState>(LogLevel level, EventId id, TState state, Exception? e, Func<TState, Exception?, string> format)
            {
                lock (owner.Lines) owner.Lines.Add($"{level} {category}: {format(state, e)}");
            }
        }
    }

    [Fact]
    public async Task ChatClientOptionsComeFromConfigurationThenCode()
    {
        using var kv = new TempDir();
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Strata:ModelPath"] = Server.ServerFixture.ModelPath,
            ["Strata:Context"] = "128",
            ["Strata:Parallel"] = "3",
            ["Strata:Kv:Type"] = "q8_0",
            ["Strata:Kv:Directory"] = kv.Path,
            ["Strata:Kv:Tiers"] = "dram=6MiB,ssd=16MiB",
        }).Build();
        var logs = new Captured();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(config);
        services.AddLogging(b => b.AddProvider(logs));
        services.AddStrataChatClient(o => o.Threads = 2).UseFunctionInvocation();

        await using var provider = services.BuildServiceProvider();
        var chat = provider.GetRequiredService<IChatClient>();
        Assert.NotNull(chat.GetService<FunctionInvokingChatClient>()); // the builder's middleware wraps Strata
        var model = chat.GetService<Model>()!;
        Assert.Equal(128, model.Context);
        Assert.Equal(KvType.Q8_0, model.KvCache.Layout.Type);
        Assert.Equal(6L << 20, model.KvPool.Capacity * (long)model.KvCache.Layout.BlockBytes, (double)model.KvCache.Layout.BlockBytes); // Kv:Tiers' dram size
        Assert.Equal(3, chat.GetService<InferenceEngine>()!.Options.MaxRunning);
        Assert.Equal(2, model.Transformer.Pool.Threads);
        var answer = await chat.GetResponseAsync("Psalms 23:1", new ChatOptions { MaxOutputTokens = 4 });
        Assert.Equal(4, answer.Usage!.OutputTokenCount);
        Assert.Contains(logs.Lines, l => l.StartsWith("Information Strata.Extensions.AI.StrataChatClient: Strata loaded strata-tiny.gguf", StringComparison.Ordinal));
        Assert.Contains(logs.Lines, l => l.Contains("Strata KV tier ssd"));
    }

    [Fact]
    public async Task WithNoModelPathTheDefaultModelIsUsed()
    {
        var services = new ServiceCollection();
        services.AddStrataChatClient(o => { o.Threads = 1; o.Context = 64; o.Parallel = 1; });
        await using var provider = services.BuildServiceProvider();
        var chat = provider.GetRequiredService<IChatClient>();
        Assert.Equal("strata-tiny", chat.GetService<ChatClientMetadata>()!.DefaultModelId);
        using var direct = new StrataChatClient(); // the same without DI
        Assert.Equal(Strata.Engine.DefaultModel.Find(), direct.Model.Path);
    }

    [Fact]
    public async Task EmbeddingGeneratorReadsItsOwnSection()
    {
        using var dir = new TempDir();
        string path = TestModels.Write(new ModelSpec(Tied: true, Pooling: PoolingType.Mean), dir.Path);
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Strata:ModelPath"] = Server.ServerFixture.ModelPath, // the chat model's section is not read
            ["Strata:Embeddings:ModelPath"] = path,
            ["Strata:Embeddings:Context"] = "96",
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(config);
        services.AddStrataEmbeddingGenerator(o => o.Threads = 1);
        await using var provider = services.BuildServiceProvider();
        var g = provider.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>();
        Assert.Equal(96, g.GetService<Model>()!.Context);
        Assert.Equal(64, (await g.GenerateVectorAsync("hello")).Length);
    }

    [Fact]
    public async Task AMissingModelIsOneClearError()
    {
        var services = new ServiceCollection();
        services.AddStrataChatClient(o => o.ModelPath = "/nonexistent/model.gguf");
        await using var provider = services.BuildServiceProvider();
        var e = Assert.ThrowsAny<StrataException>(() => provider.GetRequiredService<IChatClient>());
        Assert.Contains("/nonexistent/model.gguf", e.Message);
    }
}
