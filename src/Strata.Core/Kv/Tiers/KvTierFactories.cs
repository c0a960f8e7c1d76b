using System.Collections.Concurrent;

namespace Strata.Kv.Tiers;

/// <summary>What a tier made by a <see cref="KvTierFactories"/> factory is for: the model's block identity and geometry.</summary>
public sealed record KvTierContext(BlockHash Fingerprint, KvLayout Layout, string ModelName, Action<string> Warn);

/// <summary>A tier named in <c>--kv-tiers</c> that a factory builds (<c>remote=redis://host:port</c>), with its text as given.</summary>
public sealed record KvTierSpec(string Name, string Value);

/// <summary>
/// Tiers that live outside Strata.Core, by the name <c>--kv-tiers</c> gives them: the remote tier (Strata.Kv.Redis)
/// registers itself here, so the engine knows only <see cref="IKvTier"/> and takes no dependency on a store's client.
/// </summary>
public static class KvTierFactories
{
    /// <param name="Validate">Null when the text is usable; otherwise what is wrong with it (checked when options are read).</param>
    public sealed record Factory(string Name, Func<string, string?> Validate, Func<string, KvTierContext, IKvTier> Create);

    private static readonly ConcurrentDictionary<string, Factory> Factories = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Registers (or replaces) the factory of tier <paramref name="name"/>.</summary>
    public static void Register(string name, Func<string, KvTierContext, IKvTier> create, Func<string, string?>? validate = null) =>
        Factories[name] = new Factory(name, validate ?? (_ => null), create);

    public static bool TryGet(string name, out Factory factory) => Factories.TryGetValue(name, out factory!);

    public static IReadOnlyCollection<string> Names => Factories.Keys.Order(StringComparer.Ordinal).ToArray();
}
