using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Garnet;

namespace Strata.Tests.Support;

/// <summary>Free TCP ports on loopback, for stores and servers a test starts.</summary>
public static class LoopbackPorts
{
    public static int Free()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Waits until something accepts connections on the port (or the timeout passes).</summary>
    public static bool WaitListening(int port, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            try
            {
                using var c = new TcpClient();
                c.Connect(IPAddress.Loopback, port);
                return true;
            }
            catch (SocketException) { Thread.Sleep(20); }
        }
        return false;
    }
}

/// <summary>
/// Microsoft's Garnet embedded in the test process on a loopback port: a real Redis-protocol server. Disposed once
/// (Garnet does not take a second dispose); <see cref="Kill"/> stops it mid-test the same way.
/// </summary>
public sealed class GarnetStore : IDisposable
{
    private GarnetServer? _server;

    public GarnetStore()
    {
        Port = LoopbackPorts.Free();
        _server = new GarnetServer(["--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1"]);
        _server.Start();
        if (!LoopbackPorts.WaitListening(Port, TimeSpan.FromSeconds(20))) throw new InvalidOperationException($"Garnet did not listen on {Port}");
    }

    public int Port { get; }
    public string Url => $"redis://127.0.0.1:{Port}";

    /// <summary>Stops the store (connections drop, the port closes).</summary>
    public void Kill()
    {
        var s = Interlocked.Exchange(ref _server, null);
        s?.Dispose();
    }

    public void Dispose() => Kill();
}

/// <summary>
/// Real <c>redis-server</c> processes on loopback: one node, or a 3-node cluster made with <c>redis-cli --cluster
/// create</c>. Nothing is saved to disk. Tests that need it use <see cref="RedisFactAttribute"/>.
/// </summary>
public sealed class RedisServers : IDisposable
{
    private readonly List<Process> _nodes = new();
    private readonly TempDir _dir = new();

    private RedisServers() { }

    public IReadOnlyList<int> Ports { get; private set; } = [];
    public string Url => $"redis://127.0.0.1:{Ports[0]}";

    public static string? ServerPath => Which("redis-server");
    public static string? CliPath => Which("redis-cli");

    private static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    public static RedisServers Single() => Start(1, cluster: false);

    public static RedisServers Cluster() => Start(3, cluster: true);

    private static RedisServers Start(int count, bool cluster)
    {
        var r = new RedisServers();
        try
        {
            var ports = new List<int>();
            for (int i = 0; i < count; i++)
            {
                int port = LoopbackPorts.Free();
                ports.Add(port);
                var psi = new ProcessStartInfo(ServerPath ?? throw new InvalidOperationException("redis-server is not installed"))
                {
                    UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = r._dir.Path,
                };
                string[] args = ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", r._dir.Path, "--dbfilename", $"dump-{port}.rdb"];
                foreach (var a in args) psi.ArgumentList.Add(a);
                if (cluster)
                    foreach (var a in new[] { "--cluster-enabled", "yes", "--cluster-config-file", $"nodes-{port}.conf", "--cluster-node-timeout", "2000" })
                        psi.ArgumentList.Add(a);
                var p = Process.Start(psi)!;
                p.OutputDataReceived += (_, _) => { };
                p.ErrorDataReceived += (_, _) => { };
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                r._nodes.Add(p);
            }
            foreach (int port in ports)
                if (!LoopbackPorts.WaitListening(port, TimeSpan.FromSeconds(20))) throw new InvalidOperationException($"redis-server did not listen on {port}");
            r.Ports = ports;
            if (cluster) r.CreateCluster();
            return r;
        }
        catch
        {
            r.Dispose();
            throw;
        }
    }

    private void CreateCluster()
    {
        var args = new List<string> { "--cluster", "create" };
        args.AddRange(Ports.Select(p => $"127.0.0.1:{p}"));
        args.AddRange(["--cluster-replicas", "0", "--cluster-yes"]);
        var (code, output) = Cli(args, TimeSpan.FromSeconds(30));
        if (code != 0) throw new InvalidOperationException($"redis-cli --cluster create failed: {output}");
        // The nodes agree on the slots a moment after create returns.
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            bool ok = Ports.All(p => Cli(["-p", p.ToString(System.Globalization.CultureInfo.InvariantCulture), "cluster", "info"], TimeSpan.FromSeconds(5)).Output.Contains("cluster_state:ok"));
            if (ok) return;
            Thread.Sleep(100);
        }
        throw new InvalidOperationException("the cluster did not reach cluster_state:ok in 30 s");
    }

    /// <summary>Runs redis-cli with the arguments; its exit code and output.</summary>
    public static (int Code, string Output) Cli(IEnumerable<string> args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(CliPath ?? throw new InvalidOperationException("redis-cli is not installed"))
        {
            UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"redis-cli {string.Join(' ', args)} did not finish");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>Kills node <paramref name="index"/> at once (SIGKILL), as a crash would.</summary>
    public void Kill(int index)
    {
        var p = _nodes[index];
        if (!p.HasExited) p.Kill();
        p.WaitForExit(10_000);
    }

    public void Dispose()
    {
        foreach (var p in _nodes)
        {
            try
            {
                if (!p.HasExited) p.Kill();
                p.WaitForExit(10_000);
            }
            catch (InvalidOperationException) { }
            p.Dispose();
        }
        _nodes.Clear();
        _dir.Dispose();
    }
}

/// <summary>
/// A test that needs <c>redis-server</c>: on CI (CI=true) it runs and fails when the binary is missing (.ci/run
/// installs it); elsewhere it is skipped with a message saying how to install it.
/// </summary>
public sealed class RedisFactAttribute : FactAttribute
{
    public RedisFactAttribute()
    {
        bool ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (!ci && (RedisServers.ServerPath is null || RedisServers.CliPath is null))
            Skip = "redis-server and redis-cli are not installed (apt-get install -y redis-server); CI=true makes this a failure";
    }
}
