namespace Strata.Server.Api;

/// <summary>
/// A request the server refuses, with the parts of OpenAI's error object: the HTTP status, a message for the
/// caller, the error type, the offending parameter and a code.
/// </summary>
public sealed class ApiException(int status, string message, string type = "invalid_request_error", string? param = null, string? code = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    /// <summary>Sent as Retry-After with a 429.</summary>
    public TimeSpan? RetryAfter { get; init; }

    public static ApiException Invalid(string message, string? param = null, string? code = null) => new(400, message, param: param, code: code);
}
