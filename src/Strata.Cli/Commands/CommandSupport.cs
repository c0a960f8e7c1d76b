using Strata.Engine;

namespace Strata.Cli.Commands;

internal static class CommandSupport
{
    public static readonly Dictionary<string, string> Aliases = new()
    {
        ["-m"] = "--model",
        ["-p"] = "--prompt",
        ["-n"] = "--n-predict",
        ["-c"] = "--ctx-size",
        ["-t"] = "--threads",
        ["-s"] = "--seed",
    };

    /// <summary>The model named with -m, else the default model shipped with Strata.</summary>
    public static string ModelPath(Args a) =>
        a.String("--model") ?? DefaultModel.Find() ?? throw new UsageException(
            $"no model given and the default model is not installed (looked in {string.Join(", ", DefaultModel.Candidates())}): use -m MODEL.gguf");

    public static Model LoadModel(Args a, int sequences = 1)
    {
        string path = ModelPath(a);
        int threads = a.Int("--threads", 0);
        if (threads < 0 || threads > 1024) throw new UsageException($"--threads must be between 1 and 1024, got {threads}");
        int ctx = a.Int("--ctx-size", 0);
        if (ctx < 0) throw new UsageException($"--ctx-size must be positive, got {ctx}");
        return Model.Load(path, new ModelOptions { Threads = threads, Context = ctx, MaxSequences = sequences });
    }
}
