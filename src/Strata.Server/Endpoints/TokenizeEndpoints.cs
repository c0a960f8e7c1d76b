using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Strata.Server.Api;
using Strata.Server.Hosting;

namespace Strata.Server.Endpoints;

/// <summary>llama.cpp's POST /tokenize and /detokenize.</summary>
public static class TokenizeEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/tokenize", Tokenize);
        app.MapPost("/detokenize", Detokenize);
    }

    /// <summary>{"content", "add_special"? (false), "parse_special"? (true), "with_pieces"? (false)} → {"tokens": [...]}.</summary>
    private static async Task Tokenize(HttpContext ctx)
    {
        var host = ctx.RequestServices.GetRequiredService<ModelHost>();
        using var body = await JsonBody.ReadAsync(ctx.Request);
        string content = body.String("content") ?? throw ApiException.Invalid("Missing required parameter: 'content'.", "content", "missing_required_parameter");
        bool addSpecial = body.Bool("add_special") ?? false;
        bool parseSpecial = body.Bool("parse_special") ?? true;
        bool pieces = body.Bool("with_pieces") ?? false;
        var tokens = host.Model.Tokenize(content, addSpecial, parseSpecial);
        await ResponseJson.WriteJsonAsync(ctx, w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("tokens");
            foreach (int t in tokens)
            {
                if (!pieces)
                {
                    w.WriteNumberValue(t);
                    continue;
                }
                w.WriteStartObject();
                w.WriteNumber("id", t);
                w.WriteString("piece", System.Text.Encoding.UTF8.GetString(host.Model.Tokenizer.TokenBytes(t, special: true)));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary>{"tokens": [...]} → {"content": "..."}.</summary>
    private static async Task Detokenize(HttpContext ctx)
    {
        var host = ctx.RequestServices.GetRequiredService<ModelHost>();
        using var body = await JsonBody.ReadAsync(ctx.Request);
        if (body.Get("tokens") is not { } v) throw ApiException.Invalid("Missing required parameter: 'tokens'.", "tokens", "missing_required_parameter");
        if (v.ValueKind != JsonValueKind.Array) throw JsonBody.WrongType("tokens", "an array of token ids", v);
        var tokens = PromptInputs.Tokens(v, "tokens", host.Model.Config.VocabSize);
        string text = host.Model.Tokenizer.Decode(tokens);
        await ResponseJson.WriteJsonAsync(ctx, w =>
        {
            w.WriteStartObject();
            w.WriteString("content", text);
            w.WriteEndObject();
        });
    }
}
