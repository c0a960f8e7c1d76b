using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Strata.Engine;
using Strata.Sampling;

namespace Strata.Extensions.AI;

/// <summary>
/// <see cref="ChatOptions"/> in the engine's terms. Sampling goes through <see cref="SamplingRequest"/>, so an option
/// left out gets the default the HTTP server gives the same field. Strata's own knobs come in
/// <see cref="ChatOptions.AdditionalProperties"/>: <c>min_p</c>, <c>repeat_penalty</c>, <c>repeat_last_n</c>,
/// <c>priority</c> (lower runs first) and <c>user</c> (whom fair queuing counts the request against).
/// </summary>
internal static class ChatOptionsMapping
{
    public const string MinP = "min_p", RepeatPenalty = "repeat_penalty", RepeatLastN = "repeat_last_n", Priority = "priority", User = "user";

    public static GenerationOptions Generation(ChatOptions? o)
    {
        var extra = o?.AdditionalProperties;
        if (o?.MaxOutputTokens is <= 0) throw new ArgumentException($"MaxOutputTokens = {o.MaxOutputTokens}: at least 1 (or null for no limit)", nameof(ChatOptions.MaxOutputTokens));
        var sampling = new SamplingRequest
        {
            Temperature = o?.Temperature,
            TopP = o?.TopP,
            TopK = o?.TopK,
            MinP = Number(extra, MinP),
            RepeatPenalty = Number(extra, RepeatPenalty),
            PresencePenalty = o?.PresencePenalty,
            FrequencyPenalty = o?.FrequencyPenalty,
            RepeatLastN = (int?)Integer(extra, RepeatLastN),
            Seed = o?.Seed,
        }.ToSamplerOptions();
        try
        {
            sampling.Validate();
        }
        catch (StrataException e)
        {
            throw new ArgumentException($"ChatOptions: {e.Message}", nameof(ChatOptions), e);
        }
        return new GenerationOptions
        {
            MaxTokens = o?.MaxOutputTokens ?? -1,
            Sampling = sampling,
            StopStrings = o?.StopSequences?.Where(s => !string.IsNullOrEmpty(s)).ToArray() ?? [],
        };
    }

    public static int PriorityOf(ChatOptions? o) => (int)(Integer(o?.AdditionalProperties, Priority) ?? 0);

    public static string UserOf(ChatOptions? o) =>
        o?.AdditionalProperties?.TryGetValue(User, out var v) == true && v is not null ? "user:" + Convert.ToString(v, CultureInfo.InvariantCulture) : "";

    /// <summary>A number from AdditionalProperties, whatever numeric type (or JSON number, or numeric string) it came as.</summary>
    private static double? Number(AdditionalPropertiesDictionary? extra, string key)
    {
        if (extra is null || !extra.TryGetValue(key, out var v) || v is null) return null;
        try
        {
            return v switch
            {
                JsonElement { ValueKind: JsonValueKind.Number } j => j.GetDouble(),
                string s => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture),
                IConvertible c when v is not bool => c.ToDouble(CultureInfo.InvariantCulture),
                _ => throw new FormatException(),
            };
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException)
        {
            throw new ArgumentException($"ChatOptions.AdditionalProperties[\"{key}\"] must be a number, got {v.GetType().Name} '{v}'", nameof(ChatOptions.AdditionalProperties));
        }
    }

    private static long? Integer(AdditionalPropertiesDictionary? extra, string key)
    {
        if (Number(extra, key) is not { } x) return null;
        if (x != Math.Floor(x) || x < int.MinValue || x > int.MaxValue)
            throw new ArgumentException($"ChatOptions.AdditionalProperties[\"{key}\"] must be a whole number, got {x.ToString(CultureInfo.InvariantCulture)}", nameof(ChatOptions.AdditionalProperties));
        return (long)x;
    }
}
