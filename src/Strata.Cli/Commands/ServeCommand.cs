using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Strata.Server.Hosting;

namespace Strata.Cli.Commands;

/// <summary><c>strata serve</c>: the OpenAI-compatible HTTP server (Strata.Server) on one model.</summary>
internal sealed class ServeCommand : Command
{
    public const string ApiKeyVariable = "STRATA_API_KEY";

    private readonly Option<string?> _model = CommonOptions.Model();
    private readonly Option<string> _host = new("--host") { Description = "address to listen on (loopback by default; 0.0.0.0 for every interface)", HelpName = "ADDR", DefaultValueFactory = _ => "127.0.0.1" };
    private readonly Option<int> _port = Opt.Int("--port", [], "TCP port (0: any free port)", 8080, 0, 65535, "PORT");
    private readonly Option<string?> _apiKey = new("--api-key") { Description = $"require 'Authorization: Bearer KEY' (default: ${ApiKeyVariable})", HelpName = "KEY" };
    private readonly Option<int> _parallel = Opt.Int("--parallel", ["-np"], "sequences computed together, and the most choices (n) a request may ask for", 4, 1, 256);
    private readonly Option<int> _ctx = CommonOptions.CtxSize(description: $"context size per sequence in tokens (0: the model's, at most {Strata.Engine.ModelOptions.DefaultMaxContext})");
    private readonly Option<int> _threads = CommonOptions.Threads();
    private readonly Option<int> _timeout = Opt.Int("--timeout", [], "seconds a request may run before it is stopped (0: no limit)", 600, 0, int.MaxValue, "S");
    private readonly KvOptions _kv = new();

    public ServeCommand() : base("serve", "serve the model over HTTP with OpenAI's API (chat and text completions, streaming), /health, /metrics, /tokenize")
    {
        foreach (var o in new Option[] { _model, _host, _port, _apiKey, _parallel, _ctx, _threads, _timeout }) Add(o);
        foreach (var o in _kv.All) Add(o);
        SetAction(Execute);
    }

    private int Execute(ParseResult p)
    {
        var kv = _kv.Read(p, KvOptions.Warn);
        var options = new StrataServerOptions
        {
            ModelPath = CommonOptions.ModelPath(p.GetValue(_model)),
            Host = p.GetValue(_host)!,
            Port = p.GetValue(_port),
            // Read here, not as the option's default: --help must never print the key.
            ApiKey = p.GetValue(_apiKey) ?? Environment.GetEnvironmentVariable(ApiKeyVariable),
            Parallel = p.GetValue(_parallel),
            Context = p.GetValue(_ctx),
            Threads = p.GetValue(_threads),
            Kv = kv,
            KvType = _kv.ReadType(p),
            Limits = new ServerLimits { RequestTimeoutSeconds = p.GetValue(_timeout) },
        };
        return Run(options).GetAwaiter().GetResult();
    }

    private static async Task<int> Run(StrataServerOptions options)
    {
        await using var server = StrataServer.Create(options, logging => ServiceLogging.Configure(logging));
        try
        {
            await server.StartAsync();
        }
        catch (IOException e)
        {
            throw new StrataException($"cannot listen on {options.Host}:{options.Port}: {e.Message}");
        }
        var stopped = server.WaitForShutdownAsync();
        var first = await Task.WhenAny(stopped, server.Host.Ready);
        if (first == server.Host.Ready && server.Host.Ready.IsFaulted)
        {
            await server.StopAsync();
            throw new StrataException($"{Path.GetFileName(options.ModelPath)}: {server.Host.LoadError}");
        }
        await stopped;
        return 0;
    }
}
