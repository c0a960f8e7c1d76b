using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Strata.Server.Hosting;

namespace Strata.Tests.Server;

/// <summary>
/// One real server (Kestrel on 127.0.0.1, a free port) on the shipped tiny model, shared by the server tests: two
/// sequences in parallel, 256 positions each. The tests run one after another in one collection (2 slow cores).
/// </summary>
public sealed class ServerFixture : LoopbackServer
{
    public const int Parallel = 2;
    public const int Context = 256;

    public static string ModelPath => Path.Combine(Strata.Tests.DefaultModel.DefaultModelTests.RepoRoot(), "models", Strata.Engine.DefaultModel.FileName);

    protected override StrataServerOptions Options(string dir) =>
        new() { ModelPath = ModelPath, Port = 0, Parallel = Parallel, Context = Context, Threads = 2 };

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>POSTs JSON and returns the status and the parsed body.</summary>
    public static async Task<(int Status, JsonElement Body, HttpResponseMessage Response)> Post(HttpClient http, string path, string json, string? key = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(json) };
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        var response = await http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        var body = text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default;
        return ((int)response.StatusCode, body, response);
    }

    public Task<(int Status, JsonElement Body, HttpResponseMessage Response)> Post(string path, string json) => Post(Http, path, json);

    /// <summary>Waits until every sequence finished and every KV block is free again (cached blocks count as free).</summary>
    public async Task<bool> BlocksFreed(TimeSpan within)
    {
        var end = DateTime.UtcNow + within;
        while (DateTime.UtcNow < end)
        {
            var load = Server.Host.Engine.Load;
            if (load.Running == 0 && load.Waiting == 0 && Model.KvPool.FreeBlocks == Model.KvPool.Capacity) return true;
            await Task.Delay(20);
        }
        return false;
    }
}

[CollectionDefinition("Server")]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>;
