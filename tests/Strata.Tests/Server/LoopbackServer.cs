using Strata.Server.Hosting;
using Strata.Tests.Support;

namespace Strata.Tests.Server;

/// <summary>
/// A real server (Kestrel on 127.0.0.1, a free port) for a test class: started on a model the subclass writes into
/// its own temp folder (or names), ready before the first test, stopped and cleaned up after the last.
/// </summary>
public abstract class LoopbackServer : IAsyncLifetime
{
    private readonly TempDir _dir = new();

    public StrataServer Server { get; private set; } = null!;
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(120) };
    public Uri BaseAddress => Server.Address!;
    public Strata.Engine.Model Model => Server.Host.Model;

    /// <summary>The server's options (port 0: a free one); <paramref name="dir"/> is a temp folder for the model file, deleted afterwards.</summary>
    protected abstract StrataServerOptions Options(string dir);

    public async Task InitializeAsync()
    {
        Server = StrataServer.Create(Options(_dir.Path));
        await Server.StartAsync();
        await Server.Host.Ready;
        Http.BaseAddress = BaseAddress;
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        _dir.Dispose();
    }
}
