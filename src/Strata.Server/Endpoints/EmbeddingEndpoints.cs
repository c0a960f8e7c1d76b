using System.Buffers.Binary;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Strata.Engine.Serving;
using Strata.Server.Api;
using Strata.Server.Hosting;
using Strata.Server.Metrics;

namespace Strata.Server.Endpoints;

/// <summary>
/// POST /v1/embeddings in OpenAI's shape: <c>input</c> as a string, a list of strings, a token array or a list of
/// token arrays; <c>encoding_format</c> float or base64; <c>dimensions</c>; usage in prompt tokens. Embedding models
/// only (a GGUF pooling type); the inputs run through the engine beside the other requests.
/// </summary>
public static class EmbeddingEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/embeddings", Handle);
        app.MapPost("/embeddings", Handle); // llama.cpp's alias
    }

    private static async Task Handle(HttpContext ctx)
    {
        var host = ctx.RequestServices.GetRequiredService<ModelHost>();
        var metrics = ctx.RequestServices.GetRequiredService<ServerMetrics>();
        using var body = await JsonBody.ReadAsync(ctx.Request);
        host.CheckModel(body.String("model"));
        var model = host.Model;
        if (model.Config.Pooling == Models.PoolingType.None)
            throw ApiException.Invalid($"The model '{host.Id}' is not an embedding model (its GGUF has no {model.Config.Architecture.Name}.pooling_type), so it cannot give embeddings.",
                "model", "model_not_supported");
        var inputs = Inputs(body, host);
        bool base64 = body.String("encoding_format") switch
        {
            null or "float" => false,
            "base64" => true,
            var f => throw ApiException.Invalid($"Invalid value: '{f}'. Supported values are: 'float' and 'base64'.", "encoding_format", "invalid_value"),
        };
        int dimensions = (int)(body.Integer("dimensions", 1, model.Config.Dim) ?? 0);
        string? user = body.String("user");
        if (user is { Length: > 256 }) throw JsonBody.OutOfRange("user", "of at most 256 characters", $"{user.Length} characters");

        EmbeddingResult result;
        try
        {
            result = await EngineEmbeddings.EmbedAsync(host.Engine, inputs, new EmbeddingOptions { Dimensions = dimensions }, host.Options.Parallel,
                string.IsNullOrEmpty(user) ? ApiKeyCheck.FairnessKey(ctx) : "user:" + user, ctx.RequestAborted);
        }
        catch (Exception e) when (e is StrataException or ObjectDisposedException)
        {
            throw EngineRun.Refusal(e);
        }
        metrics.PromptTokens.Add(result.PromptTokens);
        await ResponseJson.WriteJsonAsync(ctx, w =>
        {
            w.WriteStartObject();
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            for (int i = 0; i < result.Vectors.Length; i++)
            {
                w.WriteStartObject();
                w.WriteString("object", "embedding");
                w.WriteNumber("index", i);
                if (base64) w.WriteString("embedding", Base64(result.Vectors[i]));
                else
                {
                    w.WriteStartArray("embedding");
                    foreach (float x in result.Vectors[i]) w.WriteNumberValue(x);
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteString("model", host.Id);
            w.WriteStartObject("usage");
            w.WriteNumber("prompt_tokens", result.PromptTokens);
            w.WriteNumber("total_tokens", result.PromptTokens);
            w.WriteEndObject();
            w.WriteEndObject();
        });
    }

    /// <summary>"text", ["text", ...], [1, 2, 3] or [[1, 2], ...], each tokenized as the completions prompt is and
    /// checked against the context (an embedding may fill it: nothing is generated after it).</summary>
    private static List<int[]> Inputs(JsonBody b, ModelHost host)
    {
        if (b.Get("input") is not { } v) throw ApiException.Invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter");
        var model = host.Model;
        var list = PromptInputs.Read(v, "input", host.Options.Limits.MaxEmbeddingInputs, "inputs", model.Config.VocabSize, (t, at) => Text(t, at, model));
        for (int i = 0; i < list.Count; i++)
            if (list[i].Length > model.Context)
                throw ApiException.Invalid($"This model's maximum context length is {model.Context} tokens, however {(list.Count == 1 ? "the input" : $"input[{i}]")} has {list[i].Length} tokens. Please reduce the length of the input.",
                    list.Count == 1 ? "input" : $"input[{i}]", "context_length_exceeded");
        return list;
    }

    private static int[] Text(JsonElement v, string param, Engine.Model model)
    {
        string text = v.GetString()!;
        if (text.Length == 0) throw ApiException.Invalid($"Invalid '{param}': the input is an empty string.", param, "invalid_value");
        var tokens = model.Tokenize(text);
        if (tokens.Length == 0) throw ApiException.Invalid($"Invalid '{param}': the input gives no tokens.", param, "invalid_value");
        return tokens;
    }

    /// <summary>OpenAI's base64 encoding: the float32 values' little-endian bytes.</summary>
    private static string Base64(float[] vector)
    {
        var bytes = new byte[vector.Length * sizeof(float)];
        for (int i = 0; i < vector.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), vector[i]);
        return Convert.ToBase64String(bytes);
    }
}
