namespace Strata.Engine;

/// <summary>
/// The small model Strata ships (models/strata-tiny.gguf, trained from scratch on public-domain text): used whenever
/// no model is named, so Strata runs out of the box with no download.
/// </summary>
public static class DefaultModel
{
    public const string FileName = "strata-tiny.gguf";

    /// <summary>Environment variable that points at another default model file.</summary>
    public const string EnvironmentVariable = "STRATA_DEFAULT_MODEL";

    /// <summary>Where the default model is looked for, in order.</summary>
    public static IEnumerable<string> Candidates()
    {
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } env) yield return env;
        yield return Path.Combine(AppContext.BaseDirectory, "models", FileName);
    }

    /// <summary>The default model's path, or null when it is not installed.</summary>
    public static string? Find() => Candidates().FirstOrDefault(File.Exists);
}
