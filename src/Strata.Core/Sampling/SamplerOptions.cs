namespace Strata.Sampling;

/// <summary>Sampling settings; defaults are llama.cpp's. Temperature 0 (or below) means greedy.</summary>
public sealed record SamplerOptions
{
    public float Temperature { get; init; } = 0.8f;
    /// <summary>Keep the K most likely tokens; 0 keeps all.</summary>
    public int TopK { get; init; } = 40;
    /// <summary>Keep the smallest set whose probability reaches P; 1 keeps all.</summary>
    public float TopP { get; init; } = 0.95f;
    /// <summary>Drop tokens less likely than MinP × the most likely one; 0 keeps all.</summary>
    public float MinP { get; init; } = 0.05f;
    /// <summary>Divides positive logits (multiplies negative ones) of recently seen tokens; 1 is off.</summary>
    public float RepeatPenalty { get; init; } = 1.0f;
    /// <summary>Subtracted once from the logit of every recently seen token; 0 is off.</summary>
    public float PresencePenalty { get; init; }
    /// <summary>Subtracted per occurrence from the logit of recently seen tokens; 0 is off.</summary>
    public float FrequencyPenalty { get; init; }
    /// <summary>How many of the last tokens the penalties look at (llama.cpp's penalty_last_n); -1 means all.</summary>
    public int PenaltyLastN { get; init; } = 64;
    /// <summary>Seed of the random choice: the same seed, model and prompt give the same output.</summary>
    public ulong Seed { get; init; } = 0xC0FFEE;

    public bool IsGreedy => Temperature <= 0;

    public static SamplerOptions Greedy { get; } = new() { Temperature = 0 };

    public void Validate()
    {
        if (float.IsNaN(Temperature)) throw new StrataException("temperature must be a number");
        if (TopK < 0) throw new StrataException($"top-k must be 0 or more, got {TopK}");
        if (!(TopP > 0 && TopP <= 1)) throw new StrataException($"top-p must be in (0, 1], got {TopP}");
        if (!(MinP >= 0 && MinP <= 1)) throw new StrataException($"min-p must be in [0, 1], got {MinP}");
        if (!(RepeatPenalty > 0)) throw new StrataException($"repeat penalty must be positive, got {RepeatPenalty}");
        if (!float.IsFinite(PresencePenalty) || !float.IsFinite(FrequencyPenalty)) throw new StrataException("penalties must be finite");
        if (PenaltyLastN < -1) throw new StrataException($"penalty window must be -1 or more, got {PenaltyLastN}");
    }
}
