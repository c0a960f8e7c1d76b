using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Strata.Extensions.AI;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers Strata as the app's <see cref="IChatClient"/> or <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/>,
/// as the Microsoft.Extensions.AI providers do. Options come from configuration (the <c>Strata</c> section, or
/// <c>Strata:Embeddings</c>) and then from the <c>configure</c> callback; the model loads when the client is first
/// resolved and lives as a singleton. The returned builder adds middleware (function invocation, logging,
/// OpenTelemetry, caching).
/// </summary>
public static class StrataServiceCollectionExtensions
{
    /// <summary>The configuration section the chat client's options are bound from.</summary>
    public const string ChatSection = "Strata";

    /// <summary>The configuration section the embedding generator's options are bound from.</summary>
    public const string EmbeddingSection = "Strata:Embeddings";

    /// <summary>Adds a <see cref="StrataChatClient"/> as the <see cref="IChatClient"/>; with no model path, the default model.</summary>
    /// <param name="services">The app's services.</param>
    /// <param name="configure">Sets options after configuration has (e.g. <c>o => o.ModelPath = "model.gguf"</c>).</param>
    /// <param name="configSection">Where in configuration the options are read from.</param>
    public static ChatClientBuilder AddStrataChatClient(this IServiceCollection services, Action<StrataOptions>? configure = null, string configSection = ChatSection)
    {
        ArgumentNullException.ThrowIfNull(services);
        AddOptions(services, configSection, configure);
        return services.AddChatClient(sp => new StrataChatClient(Options(sp, configSection), Logger<StrataChatClient>(sp)));
    }

    /// <summary>Adds a <see cref="StrataEmbeddingGenerator"/> as the <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/>
    /// of strings; the model must be an embedding model (a GGUF pooling type).</summary>
    /// <param name="services">The app's services.</param>
    /// <param name="configure">Sets options after configuration has (at least the model path, unless configured).</param>
    /// <param name="configSection">Where in configuration the options are read from.</param>
    public static EmbeddingGeneratorBuilder<string, Embedding<float>> AddStrataEmbeddingGenerator(this IServiceCollection services,
        Action<StrataOptions>? configure = null, string configSection = EmbeddingSection)
    {
        ArgumentNullException.ThrowIfNull(services);
        AddOptions(services, configSection, configure);
        return services.AddEmbeddingGenerator<string, Embedding<float>>(sp => new StrataEmbeddingGenerator(Options(sp, configSection), Logger<StrataEmbeddingGenerator>(sp)));
    }

    private static void AddOptions(IServiceCollection services, string section, Action<StrataOptions>? configure)
    {
        // Named by the section, so a chat model and an embedding model keep separate options.
        var builder = services.AddOptions<StrataOptions>(section);
        builder.Configure<IServiceProvider>((o, sp) =>
        {
            if (sp.GetService<IConfiguration>() is { } configuration) configuration.GetSection(section).Bind(o);
        });
        if (configure is not null) builder.Configure(configure);
    }

    private static StrataOptions Options(IServiceProvider sp, string section) => sp.GetRequiredService<IOptionsMonitor<StrataOptions>>().Get(section);

    private static ILogger? Logger<T>(IServiceProvider sp) => sp.GetService<ILoggerFactory>()?.CreateLogger<T>();
}
