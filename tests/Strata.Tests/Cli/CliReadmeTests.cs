using System.Text.RegularExpressions;
using Strata.Tests.Support;

namespace Strata.Tests.CommandLine;

/// <summary>README's command table lists exactly what each command's --help lists, and the completion it promises works.</summary>
public class CliReadmeTests
{
    [Fact]
    public void ReadmeCommandTableMatchesHelp()
    {
        string readme = File.ReadAllText(Path.Combine(Strata.Tests.DefaultModel.DefaultModelTests.RepoRoot(), "README.md"));
        var rows = Regex.Matches(readme, @"^\| `strata ([a-z]+(?: [a-z]+)?)` \| (.*?) \| .* \|$", RegexOptions.Multiline);
        Assert.Equal(14, rows.Count);
        foreach (Match row in rows)
        {
            string command = row.Groups[1].Value;
            var documented = Regex.Matches(row.Groups[2].Value, "`([^`]+)`").Select(m => m.Groups[1].Value.Replace("\\|", "|")).ToList();
            var help = StrataCli.Run([.. command.Split(' '), "--help"]).Stdout;
            var usage = Regex.Match(help, @"Usage:\s+(.*)").Groups[1].Value;
            var listed = Regex.Matches(usage.Split("[options]")[0], "<([^>]+)>").Select(m => m.Groups[1].Value).ToList();
            foreach (var line in help[help.IndexOf("Options:", StringComparison.Ordinal)..].Split('\n').Skip(1))
            {
                var m = Regex.Match(line, @"^\s+(-\S.*?)\s{2,}");
                if (m.Success && !m.Groups[1].Value.StartsWith("-?", StringComparison.Ordinal))
                    listed.Add(Regex.Replace(m.Groups[1].Value, "<([^>]+)>", "$1").Replace(" (REQUIRED)", ""));
            }
            Assert.Equal(listed, documented);
        }
    }

    [Fact]
    public void SuggestDirectiveCompletesValues()
    {
        var r = StrataCli.Run("[suggest:13]", "quantize a b ");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("Q4_K_M", r.Stdout.Split('\n', StringSplitOptions.TrimEntries));
    }
}
