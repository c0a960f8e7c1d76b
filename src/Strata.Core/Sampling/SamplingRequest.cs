namespace Strata.Sampling;

/// <summary>
/// Sampling as an API request asks for it, every field optional: the HTTP server's JSON fields and the in-process
/// <c>IChatClient</c>'s <c>ChatOptions</c> both map here, so both get the same defaults and the same meaning. Defaults
/// are OpenAI's where it defines them (temperature 1, top-p 1, no penalties) and llama.cpp's server's for its extras
/// (top-k 40, min-p 0.05, repeat penalty 1 over the last 64 tokens); no seed means a random one.
/// </summary>
public sealed record SamplingRequest
{
    public double? Temperature { get; init; }
    public double? TopP { get; init; }
    public int? TopK { get; init; }
    public double? MinP { get; init; }
    public double? RepeatPenalty { get; init; }
    public double? PresencePenalty { get; init; }
    public double? FrequencyPenalty { get; init; }
    /// <summary>Tokens the penalties look back over; -1 means all.</summary>
    public int? RepeatLastN { get; init; }
    public long? Seed { get; init; }

    public SamplerOptions ToSamplerOptions()
    {
        double topP = TopP ?? 1;
        return new SamplerOptions
        {
            // top_p 0 means "only the most likely token" in OpenAI's API; the sampler wants p in (0, 1].
            Temperature = (float)(Temperature ?? 1),
            TopK = topP == 0 ? 1 : Math.Max(0, TopK ?? 40),
            TopP = topP == 0 ? 1 : (float)topP,
            MinP = (float)(MinP ?? 0.05),
            RepeatPenalty = (float)(RepeatPenalty ?? 1),
            PresencePenalty = (float)(PresencePenalty ?? 0),
            FrequencyPenalty = (float)(FrequencyPenalty ?? 0),
            PenaltyLastN = RepeatLastN ?? 64,
            Seed = Seed is { } s ? unchecked((ulong)s) : (ulong)Random.Shared.NextInt64(),
        };
    }
}
