using System.CommandLine;
using Strata.Engine;

namespace Strata.Cli;

/// <summary>
/// Options many commands take, defined once so that every command spells, describes and checks them the same way.
/// Each call makes a new instance: a command keeps its own in a field and reads it with
/// <c>parseResult.GetValue(field)</c>.
/// </summary>
internal static class CommonOptions
{
    public const int MaxThreads = 1024;

    /// <summary><c>-m, --model</c>: a GGUF file that must exist; when left out, the default model shipped with Strata.</summary>
    public static Option<string?> Model(string description = "GGUF model file (default: the model shipped with Strata)") =>
        new Option<string?>("--model", "-m") { Description = description, HelpName = "MODEL" }.ExistingFile();

    /// <summary><c>-t, --threads</c>: compute threads, 0 for one per core.</summary>
    public static Option<int> Threads() =>
        Opt.Int("--threads", ["-t"], "compute threads (0: one per core)", 0, 0, MaxThreads);

    /// <summary><c>-c, --ctx-size</c>: context positions; 0 (the default) is the model's own, capped at 4096.</summary>
    public static Option<int> CtxSize(int defaultValue = 0, int min = 0, string? description = null) =>
        Opt.Int("--ctx-size", ["-c"], description ?? $"context size in tokens (0: the model's, at most {ModelOptions.DefaultMaxContext})", defaultValue, min, 1 << 20);

    /// <summary><c>--json</c>: one JSON document on stdout instead of text.</summary>
    public static Option<bool> Json(string description = "print one JSON object instead of text") =>
        new("--json") { Description = description };

    /// <summary>The model named with -m, else the default model (a usage error when it is not installed).</summary>
    public static string ModelPath(string? given) =>
        given ?? DefaultModel.Find() ?? throw new UsageException(
            $"no model given and the default model is not installed (looked in {string.Join(", ", DefaultModel.Candidates())}): use -m MODEL.gguf");
}
