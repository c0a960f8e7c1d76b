using System.ClientModel;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Embeddings;
using Strata.Engine;
using Strata.Engine.Serving;
using Strata.Models;
using Strata.Server.Hosting;
using Strata.Tests.Support;

namespace Strata.Tests.Server;

/// <summary>A server on a synthetic embedding model (qwen3, last-token pooling, no output head).</summary>
public sealed class EmbeddingServerFixture : LoopbackServer
{
    public static readonly ModelSpec Spec = new("qwen3", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 320, HeadDim: 32, Tied: true, Pooling: PoolingType.Last, Context: 128);

    public string ModelPath { get; private set; } = "";
    public string ModelId => Path.GetFileNameWithoutExtension(ModelPath);

    protected override StrataServerOptions Options(string dir)
    {
        ModelPath = TestModels.Write(Spec, dir);
        return new StrataServerOptions { ModelPath = ModelPath, Port = 0, Parallel = 2, Context = 128, Threads = 2 };
    }
}

public class ServerEmbeddingTests(EmbeddingServerFixture f) : IClassFixture<EmbeddingServerFixture>
{
    private Task<(int Status, JsonElement Body, HttpResponseMessage Response)> Post(string json) => ServerFixture.Post(f.Http, "/v1/embeddings", json);

    private static float[] Vector(JsonElement item) => item.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();

    private async Task<float[]> Direct(int[] tokens, int dimensions = 0) =>
        (await EngineEmbeddings.EmbedAsync(f.Server.Host.Engine, [tokens], new EmbeddingOptions { Dimensions = dimensions }, 1)).Vectors[0];

    [Fact]
    public async Task EveryInputShapeGivesTheEnginesVectorInOpenAIsShape()
    {
        string text = "In the beginning";
        var tokens = f.Model.Tokenize(text);
        var expected = await Direct(tokens);
        string tokenJson = JsonSerializer.Serialize(tokens);
        foreach (var (input, count) in new[] { ($"\"{text}\"", 1), ($"[\"{text}\", \"a\", \"{text}\"]", 3), (tokenJson, 1), ($"[{tokenJson}, [1, 7]]", 2) })
        {
            var (status, body, _) = await Post($$"""{"model":"{{f.ModelId}}","input":{{input}}}""");
            Assert.Equal(200, status);
            Assert.Equal("list", body.GetProperty("object").GetString());
            Assert.Equal(f.ModelId, body.GetProperty("model").GetString());
            var data = body.GetProperty("data").EnumerateArray().ToArray();
            Assert.Equal(count, data.Length);
            for (int i = 0; i < count; i++)
            {
                Assert.Equal("embedding", data[i].GetProperty("object").GetString());
                Assert.Equal(i, data[i].GetProperty("index").GetInt32());
                Assert.Equal(EmbeddingServerFixture.Spec.Dim, Vector(data[i]).Length);
            }
            Assert.Equal(expected, Vector(data[0]));
            int prompt = body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
            Assert.Equal(prompt, body.GetProperty("usage").GetProperty("total_tokens").GetInt32());
            if (count == 1) Assert.Equal(tokens.Length, prompt);
        }
    }

    [Fact]
    public async Task Base64AndDimensions()
    {
        var tokens = f.Model.Tokenize("hello there");
        var (status, body, _) = await Post("""{"input":"hello there","encoding_format":"base64"}""");
        Assert.Equal(200, status);
        var bytes = Convert.FromBase64String(body.GetProperty("data")[0].GetProperty("embedding").GetString()!);
        var floats = new float[bytes.Length / 4];
        for (int i = 0; i < floats.Length; i++) floats[i] = System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4));
        Assert.Equal(await Direct(tokens), floats);

        (status, body, _) = await Post("""{"input":"hello there","dimensions":16}""");
        Assert.Equal(200, status);
        var cut = Vector(body.GetProperty("data")[0]);
        Assert.Equal(16, cut.Length);
        Assert.Equal(1.0, Math.Sqrt(cut.Sum(x => (double)x * x)), 5); // cut, then normalised
        Assert.Equal(await Direct(tokens, 16), cut);
    }

    [Fact]
    public async Task TheOfficialClientsGetTheSameVectors()
    {
        var client = new EmbeddingClient(f.ModelId, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(f.Server.Address!, "/v1") });
        OpenAIEmbeddingCollection got = await client.GenerateEmbeddingsAsync(["In the beginning", "God created"]);
        Assert.Equal(2, got.Count);
        Assert.Equal(await Direct(f.Model.Tokenize("God created")), got[1].ToFloats().ToArray());
        Assert.Equal(f.Model.Tokenize("In the beginning").Length + f.Model.Tokenize("God created").Length, got.Usage.InputTokenCount);

        IEmbeddingGenerator<string, Embedding<float>> generator = client.AsIEmbeddingGenerator();
        var e = await generator.GenerateAsync(["In the beginning"]);
        Assert.Equal(await Direct(f.Model.Tokenize("In the beginning")), e[0].Vector.ToArray());
    }

    public static TheoryData<string, string?, string?> BadRequests() => new()
    {
        { """{"model":"x"}""", "model", "model_not_found" },
        { """{}""", "input", "missing_required_parameter" },
        { """{"input":""}""", "input", "invalid_value" },
        { """{"input":[]}""", "input", "empty_array" },
        { """{"input":5}""", "input", "invalid_type" },
        { """{"input":["a", 5]}""", "input[1]", "invalid_type" },
        { """{"input":[[1, 2], []]}""", "input[1]", "empty_array" },
        { """{"input":[1, 99999]}""", "input[1]", "invalid_value" },
        { """{"input":"a","encoding_format":"int8"}""", "encoding_format", "invalid_value" },
        { """{"input":"a","dimensions":0}""", "dimensions", "invalid_value" },
        { """{"input":"a","dimensions":65}""", "dimensions", "invalid_value" },
        { $$"""{"input":{{JsonSerializer.Serialize(Enumerable.Repeat(5, 129))}}}""", "input", "context_length_exceeded" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task BadRequestsGetOpenAIsErrorObject(string json, string? param, string? code)
    {
        var (status, body, _) = await Post(json);
        Assert.Equal(code == "model_not_found" ? 404 : 400, status);
        var e = body.GetProperty("error");
        Assert.Equal("invalid_request_error", e.GetProperty("type").GetString());
        Assert.Equal(param, e.GetProperty("param").GetString());
        Assert.Equal(code, e.GetProperty("code").GetString());
        // A full context is allowed: nothing is generated after an embedding's input.
        Assert.Equal(200, (await Post($$"""{"input":{{JsonSerializer.Serialize(Enumerable.Repeat(5, 128))}}}""")).Status);
    }
}

/// <summary>A generative model has no embeddings: 400 naming the model, not a 500.</summary>
[Collection("Server")]
public class ServerEmbeddingRefusalTests(ServerFixture f)
{
    [Fact]
    public async Task AChatModelRefusesEmbeddings()
    {
        var (status, body, _) = await f.Post("/v1/embeddings", """{"input":"hi"}""");
        Assert.Equal(400, status);
        var e = body.GetProperty("error");
        Assert.Equal("model", e.GetProperty("param").GetString());
        Assert.Equal("model_not_supported", e.GetProperty("code").GetString());
        Assert.Contains("not an embedding model", e.GetProperty("message").GetString());
    }
}
