using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Strata.Router;

namespace Strata.Cli.Commands;

/// <summary><c>strata router</c>: one OpenAI-compatible address in front of several <c>strata serve</c> (Strata.Router, on YARP).</summary>
internal sealed class RouterCommand : Command
{
    private readonly Option<string> _backends = new("--backends")
    {
        Description = "the strata serve backends, comma-separated (http://127.0.0.1:8081,http://127.0.0.1:8082)",
        HelpName = "URL,URL,…",
        Required = true,
    };
    private readonly Option<string> _host = new("--host") { Description = "address to listen on (loopback by default; 0.0.0.0 for every interface)", HelpName = "ADDR", DefaultValueFactory = _ => "127.0.0.1" };
    private readonly Option<int> _port = Opt.Int("--port", [], "TCP port (0: any free port)", 8080, 0, 65535, "PORT");
    private readonly Option<string?> _model = CommonOptions.Model("GGUF model whose tokenizer and chat template cut prompts into blocks: the backends' model (default: the model shipped with Strata)");
    private readonly Option<string> _policy = Opt.OneOf("--policy", [], "prefix: to the backend holding the longest prefix of the prompt, balanced by load; round-robin: in turn", "prefix", ["prefix", "round-robin"]);

    public RouterCommand() : base("router", "route OpenAI API requests across strata serve backends by prompt-prefix affinity and load, with health checks and /metrics")
    {
        foreach (var o in new Option[] { _backends, _host, _port, _model, _policy }) Add(o);
        SetAction(Execute);
    }

    private int Execute(ParseResult p)
    {
        IReadOnlyList<Uri> backends;
        try
        {
            backends = RouterOptions.ParseBackends(p.GetValue(_backends)!);
        }
        catch (StrataException e)
        {
            throw new UsageException(e.Message);
        }
        var options = new RouterOptions
        {
            Backends = backends,
            Host = p.GetValue(_host)!,
            Port = p.GetValue(_port),
            ModelPath = CommonOptions.ModelPath(p.GetValue(_model)),
            Policy = p.GetValue(_policy) == "round-robin" ? RoutePolicy.RoundRobin : RoutePolicy.Prefix,
        };
        return Run(options).GetAwaiter().GetResult();
    }

    private static async Task<int> Run(RouterOptions options)
    {
        await using var router = StrataRouter.Create(options, logging => ServiceLogging.Configure(logging, "Yarp"));
        try
        {
            await router.StartAsync();
        }
        catch (IOException e)
        {
            throw new StrataException($"cannot listen on {options.Host}:{options.Port}: {e.Message}");
        }
        await router.WaitForShutdownAsync();
        return 0;
    }
}
