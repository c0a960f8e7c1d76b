using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using Strata.Server.Hosting;

namespace Strata.Tests.Server;

/// <summary>Loading, the API key, the queue bound, and SIGTERM on the real `strata serve` process.</summary>
[Collection("Server")]
public class ServerLifecycleTests
{
    private const string Chat = "/v1/chat/completions";
    private const string Body = """{"messages":[{"role":"user","content":"Psalms 23:1"}],"max_tokens":1}""";

    [Fact]
    public async Task LoadingThenKeyThenQueueBound()
    {
        using var gate = new ManualResetEventSlim();
        await using var server = StrataServer.Create(new StrataServerOptions
        {
            ModelPath = ServerFixture.ModelPath,
            Port = 0,
            Parallel = 1,
            Context = ServerFixture.Context,
            Threads = 2,
            ApiKey = "sekrit",
            Limits = new ServerLimits { MaxWaiting = 1 },
            Loader = () =>
            {
                gate.Wait(TimeSpan.FromSeconds(30));
                return Strata.Engine.Model.Load(ServerFixture.ModelPath, new Strata.Engine.ModelOptions { Threads = 2, Context = ServerFixture.Context, MaxSequences = 1 });
            },
        });
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };

        // Listening before the model is loaded: /health says 503, and so does every API endpoint.
        var health = await http.GetAsync("/health");
        Assert.Equal(503, (int)health.StatusCode);
        Assert.Equal("model_loading", JsonDocument.Parse(await health.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("code").GetString());
        var (loading, _, _) = await ServerFixture.Post(http, Chat, Body, "sekrit");
        Assert.Equal(503, loading);
        gate.Set();
        await server.Host.Ready;
        Assert.Equal(200, (int)(await http.GetAsync("/health")).StatusCode); // no key needed for /health

        var (none, e1, _) = await ServerFixture.Post(http, Chat, Body);
        Assert.Equal(401, none);
        Assert.Equal("invalid_api_key", e1.GetProperty("error").GetProperty("code").GetString());
        var (wrong, e2, _) = await ServerFixture.Post(http, Chat, Body, "sekrit2");
        Assert.Equal(401, wrong);
        Assert.Equal("invalid_api_key", e2.GetProperty("error").GetProperty("code").GetString());
        var (right, _, _) = await ServerFixture.Post(http, Chat, Body, "sekrit");
        Assert.Equal(200, right);
        var (models, _, _) = await ServerFixture.Post(http, "/tokenize", """{"content":"x"}""", "sekrit");
        Assert.Equal(200, models);

        // One running, one waiting: the third is refused with 429 and Retry-After. The first request runs to its
        // max_tokens (ignore_eos: an answer the weights end after a few tokens could finish between two polls); should
        // it still end before the second arrives, both are cancelled and the pair is sent again.
        string longBody = """{"messages":[{"role":"user","content":"Psalms 119:1"}],"max_tokens":200,"ignore_eos":true,"stream":true}""";
        for (int attempt = 1; ; attempt++)
        {
            using var cts = new CancellationTokenSource();
            var running = Send(http, longBody, cts.Token);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (server.Host.Engine.Load.Running == 0) { Assert.True(DateTime.UtcNow < deadline, "the first request never ran"); await Task.Delay(5); }
            var waiting = Send(http, longBody, cts.Token);
            var queued = DateTime.UtcNow.AddSeconds(10);
            while (server.Host.Engine.Load.Waiting == 0 && DateTime.UtcNow < queued) await Task.Delay(5);
            bool wasQueued = server.Host.Engine.Load.Waiting > 0;
            if (wasQueued)
            {
                var (busy, e3, response) = await ServerFixture.Post(http, Chat, Body, "sekrit");
                Assert.Equal(429, busy);
                Assert.Equal("rate_limit_exceeded", e3.GetProperty("error").GetProperty("code").GetString());
                Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero);
            }
            cts.Cancel();
            foreach (var t in new[] { running, waiting })
                try { (await t).Dispose(); } catch (OperationCanceledException) { }
            if (wasQueued) break;
            Assert.True(attempt < 5, "the second request never queued behind the first in 5 attempts");
            var drained = DateTime.UtcNow.AddSeconds(30);
            while ((server.Host.Engine.Load.Running > 0 || server.Host.Engine.Load.Waiting > 0) && DateTime.UtcNow < drained) await Task.Delay(5);
        }
    }

    private static Task<HttpResponseMessage> Send(HttpClient http, string body, CancellationToken cancel)
    {
        var r = new HttpRequestMessage(HttpMethod.Post, Chat) { Content = ServerFixture.Json(body) };
        r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sekrit");
        return http.SendAsync(r, HttpCompletionOption.ResponseHeadersRead, cancel);
    }

    [Fact]
    public async Task SigtermFinishesInFlightStreamsAndExitsZero()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { Strata.Tests.Support.StrataCli.DllPath, "serve", "-m", ServerFixture.ModelPath, "--port", "0", "-c", "256", "-t", "2" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        try
        {
            _ = p.StandardOutput.ReadToEndAsync();
            Uri? address = null;
            var log = new List<string>();
            using var startup = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (address is null && await p.StandardError.ReadLineAsync(startup.Token) is { } line)
            {
                log.Add(line);
                var m = System.Text.RegularExpressions.Regex.Match(line, @"listening on (http://\S+)");
                if (m.Success) address = new Uri(m.Groups[1].Value);
            }
            Assert.True(address is not null, string.Join('\n', log));
            _ = p.StandardError.ReadToEndAsync();
            using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
            var until = Stopwatch.StartNew();
            while ((int)(await http.GetAsync("/health")).StatusCode != 200 && until.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(50);

            var stream = await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, Chat)
            {
                Content = ServerFixture.Json("""{"messages":[{"role":"user","content":"Psalms 23:1"}],"max_tokens":12,"stream":true}"""),
            }, HttpCompletionOption.ResponseHeadersRead);
            using (var kill = Process.Start("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
            // The stream already running is finished within the grace period, [DONE] included.
            string text = await stream.Content.ReadAsStringAsync();
            Assert.EndsWith("data: [DONE]\n\n", text);
            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await p.WaitForExitAsync(exit.Token);
            Assert.Equal(0, p.ExitCode);
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
    }
}
