using System.Diagnostics;
using System.Text.Json;

namespace Strata.Tests.Support;

/// <summary>Runs one of the tests' Node reference scripts (tests/*.mjs) on a JSON array of texts and parses its JSON output.</summary>
public static class NodeScript
{
    public static T Run<T>(string script, string[] texts, IReadOnlyDictionary<string, string>? environment = null)
    {
        string input = Path.Combine(Path.GetTempPath(), $"strata-node-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
        File.WriteAllText(input, JsonSerializer.Serialize(texts));
        try
        {
            var psi = new ProcessStartInfo("node", [Path.Combine(Tokenizers.VocabFixture.RepoRoot, "tests", script), input])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            string stdout = p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(120_000)) { p.Kill(entireProcessTree: true); throw new TimeoutException($"{script} did not finish in 120 s"); }
            if (p.ExitCode != 0) throw new InvalidOperationException($"{script} failed ({p.ExitCode}): {stderr.Result}");
            return JsonSerializer.Deserialize<T>(stdout)!;
        }
        finally
        {
            File.Delete(input);
        }
    }
}
