using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Strata.Server.Api;

namespace Strata.Server.Hosting;

/// <summary>
/// "Authorization: Bearer KEY", or Anthropic's "x-api-key: KEY", against the server's key, compared in constant time
/// (on SHA-256 digests, so neither the content nor the length of the key leaks through timing). /health stays open
/// for load balancers.
/// </summary>
public sealed class ApiKeyCheck(string? apiKey)
{
    private readonly byte[]? _expected = apiKey is { Length: > 0 } ? SHA256.HashData(Encoding.UTF8.GetBytes(apiKey)) : null;

    public const string UserItem = "strata.fairness-key";

    public void Check(HttpContext ctx)
    {
        string? presented = Bearer(ctx.Request) ?? XApiKey(ctx.Request);
        if (presented is not null)
            // Requests count against their key for fair queuing: a short digest, never the key itself.
            ctx.Items[UserItem] = "key:" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(presented)).AsSpan(0, 8));
        if (_expected is null || ctx.Request.Path.StartsWithSegments("/health") || ctx.Request.Path.StartsWithSegments("/v1/health")) return;
        // Anthropic's endpoints answer in Anthropic's words (authentication_error); the rest in OpenAI's.
        bool anthropic = ErrorWriter.IsAnthropic(ctx);
        if (presented is null)
            throw anthropic
                ? new ApiException(401, "x-api-key header is required (or Authorization: Bearer).", "authentication_error")
                : new ApiException(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    "invalid_request_error", code: "invalid_api_key");
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        if (!CryptographicOperations.FixedTimeEquals(digest, _expected))
            throw anthropic
                ? new ApiException(401, "invalid x-api-key", "authentication_error")
                : new ApiException(401, "Incorrect API key provided.", "invalid_request_error", code: "invalid_api_key");
    }

    private static string? Bearer(HttpRequest r)
    {
        string? header = r.Headers.Authorization;
        if (header is null || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return null;
        return header["Bearer ".Length..].Trim();
    }

    /// <summary>Anthropic's clients send the key as x-api-key (with an anthropic-version header).</summary>
    private static string? XApiKey(HttpRequest r)
    {
        string? key = r.Headers["x-api-key"];
        return string.IsNullOrWhiteSpace(key) ? null : key.Trim();
    }

    public static string FairnessKey(HttpContext ctx) => ctx.Items.TryGetValue(UserItem, out var k) && k is string s ? s : "";
}
