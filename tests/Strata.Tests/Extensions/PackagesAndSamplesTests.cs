using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Strata.Tests.Support;
using Xunit.Abstractions;

namespace Strata.Tests.Extensions;

/// <summary>
/// The packages as a user gets them: Strata, Strata.Extensions.AI and Strata.Models.Default packed (from the build
/// these tests run on) to a local folder with their dependencies, the samples copied out of the repository, restored
/// with an empty NuGet cache from that folder only (their own NuGet.config), built, and run: the console chat answers
/// a line, the web app answers one request. Every command is bounded in time.
/// </summary>
public class PackagesAndSamplesTests(ITestOutputHelper output)
{
    private static readonly string[] Packages = ["Strata.Core", "Strata.Extensions.AI", "Strata.Models.Default"];
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task PackedPackagesRestoreAloneAndTheSamplesRun()
    {
        string repo = DefaultModel.DefaultModelTests.RepoRoot();
        // The configuration these tests were built in is the one whose outputs exist to pack.
        string configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;
        using var temp = new TempDir();
        string feed = Path.Combine(temp.Path, "artifacts", "packages");
        string samples = Path.Combine(temp.Path, "samples");
        var env = new Dictionary<string, string>
        {
            ["NUGET_PACKAGES"] = Path.Combine(temp.Path, "nuget-cache"), // nothing cached: everything comes from the feed
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
            ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
        };

        foreach (var p in Packages)
            await Dotnet(["pack", Path.Combine(repo, "src", p), "-c", configuration, "--no-build", "-o", feed], repo);
        InspectPackages(feed);
        CopyDependencies(Path.Combine(repo, "src", "Strata.Extensions.AI", "obj", "project.assets.json"), feed);
        string version = Regex.Match(Path.GetFileName(Directory.GetFiles(feed, "Strata.Extensions.AI.*.nupkg").Single(f => !f.EndsWith(".snupkg"))),
            @"^Strata\.Extensions\.AI\.(.+)\.nupkg$").Groups[1].Value;
        CopyTree(Path.Combine(repo, "samples"), samples);

        // No build servers left behind by the test, and the sample's own NuGet.config as its only source.
        string[] build = ["-c", "Release", "-nodeReuse:false", "-p:UseSharedCompilation=false", $"-p:StrataVersion={version}"];
        string console = Path.Combine(samples, "ChatConsole");
        await Dotnet(["build", console, .. build], console, env);
        string consoleOut = Path.Combine(console, "bin", "Release", "net10.0");
        Assert.True(File.Exists(Path.Combine(consoleOut, "models", Strata.Engine.DefaultModel.FileName)), "Strata.Models.Default put the model beside the app");
        var chat = await Dotnet([Path.Combine(consoleOut, "ChatConsole.dll")], console, env, stdin: "Psalms 23:1\n\n");
        Assert.Contains("Name a verse", chat.Stderr);
        Assert.False(string.IsNullOrWhiteSpace(chat.Stdout), "the chat answered");

        string web = Path.Combine(samples, "WebChat");
        await Dotnet(["build", web, .. build], web, env);
        string answer = await AskWebApp(Path.Combine(web, "bin", "Release", "net10.0", "WebChat.dll"), web, env);
        Assert.False(string.IsNullOrWhiteSpace(answer));
    }

    /// <summary>
    /// What each package carries: the MIT licence expression, its README, XML documentation and a symbols package
    /// beside it for the two libraries, the model for Strata.Models.Default; the engine depends on nothing, the
    /// Microsoft.Extensions.AI library on the engine.
    /// </summary>
    private static void InspectPackages(string feed)
    {
        foreach (var (id, assembly) in new[] { ("Strata", "Strata.Core"), ("Strata.Extensions.AI", "Strata.Extensions.AI"), ("Strata.Models.Default", null) })
        {
            string nupkg = Directory.GetFiles(feed, $"{id}.*.nupkg").Single(f => Regex.IsMatch(Path.GetFileName(f), $@"^{Regex.Escape(id)}\.\d[^/]*\.nupkg$"));
            using var zip = System.IO.Compression.ZipFile.OpenRead(nupkg);
            var entries = zip.Entries.Select(e => e.FullName).ToHashSet();
            var nuspecEntry = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
            System.Xml.Linq.XDocument nuspec;
            using (var st = nuspecEntry.Open()) nuspec = System.Xml.Linq.XDocument.Load(st);
            var meta = nuspec.Root!.Elements().Single(e => e.Name.LocalName == "metadata");
            string? Field(string name) => meta.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value;
            var license = meta.Elements().Single(e => e.Name.LocalName == "license");
            Assert.Equal(("expression", "MIT"), (license.Attribute("type")?.Value, license.Value));
            Assert.Equal(id, Field("id"));
            Assert.Contains(Field("readme") ?? "", entries);
            Assert.False(string.IsNullOrWhiteSpace(Field("description")), $"{id} has a description");
            var dependencies = meta.Descendants().Where(e => e.Name.LocalName == "dependency").Select(e => e.Attribute("id")!.Value).ToList();
            if (assembly is null)
            {
                Assert.Contains(entries, e => e.EndsWith(Strata.Engine.DefaultModel.FileName, StringComparison.Ordinal));
                continue;
            }
            Assert.Contains($"lib/net10.0/{assembly}.dll", entries);
            Assert.Contains($"lib/net10.0/{assembly}.xml", entries);
            Assert.True(File.Exists(Path.ChangeExtension(nupkg, ".snupkg")), $"{id} has a symbols package");
            if (id == "Strata") Assert.Empty(dependencies);
            else Assert.Contains("Strata", dependencies);
        }
    }

    /// <summary>The nupkg of every package in the library's restore graph, from the NuGet cache into the feed.</summary>
    private static void CopyDependencies(string assetsFile, string feed)
    {
        using var assets = JsonDocument.Parse(File.ReadAllText(assetsFile));
        string cache = assets.RootElement.GetProperty("packageFolders").EnumerateObject().First().Name;
        foreach (var lib in assets.RootElement.GetProperty("libraries").EnumerateObject())
        {
            if (lib.Value.GetProperty("type").GetString() != "package") continue;
            var (id, ver) = (lib.Name.Split('/')[0].ToLowerInvariant(), lib.Name.Split('/')[1].ToLowerInvariant());
            File.Copy(Path.Combine(cache, lib.Value.GetProperty("path").GetString()!, $"{id}.{ver}.nupkg"), Path.Combine(feed, $"{id}.{ver}.nupkg"), overwrite: true);
        }
    }

    private static void CopyTree(string from, string to)
    {
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            string name = Path.GetFileName(dir);
            if (name is "bin" or "obj") continue;
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        }
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(from, file);
            if (rel.Split(Path.DirectorySeparatorChar).Any(p => p is "bin" or "obj")) continue;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(to, rel))!);
            File.Copy(file, Path.Combine(to, rel));
        }
    }

    private sealed record Result(string Stdout, string Stderr);

    private async Task<Result> Dotnet(string[] args, string cwd, IReadOnlyDictionary<string, string>? env = null, string? stdin = null)
    {
        var psi = Start(args, cwd, env);
        psi.RedirectStandardInput = true;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null) await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        using var limit = new CancellationTokenSource(Limit);
        try
        {
            await p.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', args)} ran past {Limit}");
        }
        var result = new Result(await stdout, await stderr);
        output.WriteLine($"$ dotnet {string.Join(' ', args)} -> {p.ExitCode}");
        if (p.ExitCode != 0) output.WriteLine(result.Stdout + result.Stderr);
        Assert.True(p.ExitCode == 0, $"dotnet {string.Join(' ', args)} exited {p.ExitCode}:\n{result.Stdout}\n{result.Stderr}");
        return result;
    }

    /// <summary>Starts the web sample on a free loopback port, asks it once, and stops it.</summary>
    private async Task<string> AskWebApp(string dll, string cwd, IReadOnlyDictionary<string, string> env)
    {
        var psi = Start([dll, "--urls", "http://127.0.0.1:0"], cwd, env);
        using var p = Process.Start(psi)!;
        try
        {
            var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
            var log = new System.Text.StringBuilder();
            p.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (log) log.AppendLine(e.Data);
                if (Regex.Match(e.Data, @"Now listening on: (http://127\.0\.0\.1:\d+)") is { Success: true } m) listening.TrySetResult(new Uri(m.Groups[1].Value));
            };
            p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            var started = await Task.WhenAny(listening.Task, p.WaitForExitAsync(), Task.Delay(Limit));
            Assert.True(started == listening.Task, $"the web sample did not start:\n{log}");
            using var http = new HttpClient { BaseAddress = listening.Task.Result, Timeout = Limit };
            var response = await http.GetAsync("/chat?message=Psalms%2023:1");
            string body = await response.Content.ReadAsStringAsync();
            output.WriteLine($"web sample: {(int)response.StatusCode} {body}");
            Assert.Equal(200, (int)response.StatusCode);
            return body;
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
        }
    }

    private static ProcessStartInfo Start(IEnumerable<string> args, string cwd, IReadOnlyDictionary<string, string>? env)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = cwd,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        // The test host's own variables (its runtime, its test adapter) must not leak into builds of another app.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k == "MSBUILD_EXE_PATH" || k.StartsWith("DOTNET_HOST", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(key);
        psi.Environment.Remove(Strata.Engine.DefaultModel.EnvironmentVariable); // the sample must find the packaged model itself
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        return psi;
    }
}
