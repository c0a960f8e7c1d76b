using System.CommandLine;
using Strata.Kv;
using Strata.Kv.Policies;

namespace Strata.Cli;

/// <summary>
/// The tiered KV cache's options, shared by every command that loads a model for generation (<c>run</c> and
/// <c>serve</c>): <c>--kv-tiers dram=2GiB,far=8GiB,ssd=64GiB</c>, <c>--kv-dir DIR</c>, <c>--kv-type f16|q8_0</c> and the rest.
/// </summary>
internal sealed class KvOptions
{
    // The remote tier lives outside Strata.Core: register it before any --kv-tiers is read.
    static KvOptions() => Strata.Kv.Redis.RedisKvTier.Register();

    private readonly Option<string?> _tiers = new("--kv-tiers")
    {
        Description = "KV cache tiers and sizes, e.g. dram=2GiB,far=8GiB,ssd=64GiB (ssd needs --kv-dir); remote=redis://HOST:PORT adds a store shared by every server",
        HelpName = "SPEC",
    };
    private readonly Option<string?> _dir = new Option<string?>("--kv-dir")
    {
        Description = "directory of the ssd tier: KV blocks kept across requests and restarts",
        HelpName = "DIR",
    };
    private readonly Option<string> _policy = Opt.OneOf("--kv-policy", [], "eviction policy of every tier", EvictionPolicies.Default, EvictionPolicies.Names);
    private readonly Option<string> _write = Opt.OneOf("--kv-write", [], "when blocks reach the ssd tier: through (as they complete) or back (on eviction)", "through", ["through", "back"]);
    private readonly Option<int> _farNode = Opt.Int("--kv-far-node", [], "NUMA node of the far tier (-1: the CPU-less node found, if any)", -1, -1, 1023);

    private readonly Option<string> _type = TypeOption();

    public IEnumerable<Option> All => [_tiers, _dir, _policy, _write, _farNode, _type];

    /// <summary><c>--kv-type f16|q8_0</c>, also on commands that take no other --kv-* option (perplexity).</summary>
    public static Option<string> TypeOption() =>
        Opt.OneOf("--kv-type", [], "how K and V are stored in every tier and read by attention (q8_0: about half the bytes of f16)", "f16", [.. KvTypeInfo.Names]);

    public static KvType ReadType(ParseResult p, Option<string> option) => KvTypeInfo.Parse(p.GetValue(option)!);

    public KvType ReadType(ParseResult p) => ReadType(p, _type);

    public KvCacheOptions Read(ParseResult p, Action<string> warn)
    {
        try
        {
            return new KvCacheOptions
            {
                Policy = p.GetValue(_policy)!,
                WriteMode = p.GetValue(_write) == "back" ? KvWriteMode.Back : KvWriteMode.Through,
                FarNode = p.GetValue(_farNode) is int n and >= 0 ? n : null,
                Warn = warn,
            }.WithTiers(p.GetValue(_tiers), p.GetValue(_dir));
        }
        catch (StrataException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>Cache warnings (a full disk, a corrupt block): one line on stderr each, generation goes on.</summary>
    public static void Warn(string message) => Console.Error.WriteLine($"strata: warning: {message}");
}
