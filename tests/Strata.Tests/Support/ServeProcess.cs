using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Strata.Tests.Support;

/// <summary>
/// A real <c>strata serve</c> (or <c>strata router</c>) child process on a loopback port it picks itself (--port 0):
/// started, waited for until /health answers 200, its stderr kept for the test to read, killed on dispose.
/// </summary>
public sealed partial class ServeProcess : IDisposable
{
    private readonly Process _p;
    private readonly List<string> _log = new();

    private ServeProcess(Process p) => _p = p;

    public Uri Address { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public int Pid => _p.Id;
    public bool HasExited => _p.HasExited;

    /// <summary>What the process wrote to stderr so far.</summary>
    public string[] Log
    {
        get { lock (_log) return _log.ToArray(); }
    }

    [GeneratedRegex(@"listening on (http://\S+)")]
    private static partial Regex Listening();

    /// <summary>Starts <c>strata ARGS --port 0</c> and waits (up to the timeout) until /health is 200.</summary>
    public static async Task<ServeProcess> StartAsync(IEnumerable<string> args, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(StrataCli.DllPath);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add("--port");
        psi.ArgumentList.Add("0");
        var s = new ServeProcess(Process.Start(psi)!);
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        s._p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (s._log) s._log.Add(e.Data);
            var m = Listening().Match(e.Data);
            if (m.Success) listening.TrySetResult(new Uri(m.Groups[1].Value));
        };
        s._p.OutputDataReceived += (_, _) => { };
        s._p.BeginErrorReadLine();
        s._p.BeginOutputReadLine();
        try
        {
            using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(90));
            await using var _ = cancel.Token.Register(() => listening.TrySetCanceled());
            var exited = s._p.WaitForExitAsync(cancel.Token);
            if (await Task.WhenAny(listening.Task, exited) != listening.Task)
                throw new InvalidOperationException($"strata {string.Join(' ', args)} exited before listening:\n{string.Join('\n', s.Log)}");
            s.Address = await listening.Task;
            s.Http = new HttpClient { BaseAddress = s.Address, Timeout = TimeSpan.FromSeconds(120) };
            while (true)
            {
                cancel.Token.ThrowIfCancellationRequested();
                try
                {
                    if ((int)(await s.Http.GetAsync("/health", cancel.Token)).StatusCode == 200) break;
                }
                catch (HttpRequestException) { }
                await Task.Delay(50, cancel.Token);
            }
            return s;
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException)
        {
            string log = string.Join('\n', s.Log);
            s.Dispose();
            throw new InvalidOperationException($"strata {string.Join(' ', args)} did not become healthy:\n{log}", e);
        }
    }

    /// <summary>The value of one Prometheus sample, e.g. <c>strata_kv_tier_hits_total{tier="remote"}</c>; 0 when absent.</summary>
    public async Task<double> Metric(string sample)
    {
        string text = await Http.GetStringAsync("/metrics");
        return MetricIn(text, sample);
    }

    public static double MetricIn(string text, string sample)
    {
        foreach (var line in text.Split('\n'))
            if (line.StartsWith(sample + " ", StringComparison.Ordinal))
                return double.Parse(line[(sample.Length + 1)..].Trim(), CultureInfo.InvariantCulture);
        return 0;
    }

    /// <summary>Kills the process at once (SIGKILL).</summary>
    public void Kill()
    {
        try
        {
            if (!_p.HasExited) _p.Kill(entireProcessTree: true);
            _p.WaitForExit(10_000);
        }
        catch (InvalidOperationException) { }
    }

    public void Dispose()
    {
        Kill();
        Http?.Dispose();
        _p.Dispose();
    }
}
