using System.Text.Json;
using Strata.Engine;
using Strata.Engine.Serving;
using Strata.Sampling;
using Strata.Server.Hosting;

namespace Strata.Server.Api;

/// <summary>The sampling and limit fields chat and text completions share, checked and turned into an engine request.</summary>
public sealed record GenerationFields
{
    public required GenerationOptions Generation { get; init; }
    public int Choices { get; init; } = 1;
    /// <summary>-1: no logprobs; 0: the chosen token's only; k: with the k most likely alternatives.</summary>
    public int TopLogprobs { get; init; } = -1;
    public string User { get; init; } = "";
    public int Priority { get; init; }
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
    /// <summary>What the request asked for; null: until end of generation or a full context.</summary>
    public int? MaxTokens { get; init; }

    public InferenceRequest ToRequest(int[] prompt) => new()
    {
        Prompt = prompt,
        Generation = Generation,
        Choices = Choices,
        TopLogprobs = TopLogprobs,
        User = User,
        Priority = Priority,
    };

    /// <summary>
    /// Reads the fields. Defaults are <see cref="SamplingRequest"/>'s: OpenAI's where it defines them (temperature 1,
    /// top_p 1, no penalties) and llama.cpp's server's for its extras (top_k 40, min_p 0.05, repeat_penalty 1, repeat_last_n 64).
    /// </summary>
    /// <param name="fairnessKey">Whom the request counts against when it names no <c>user</c> (from the API key).</param>
    public static GenerationFields Parse(JsonBody b, ModelHost host, bool chat, string fairnessKey)
    {
        var limits = host.Options.Limits;
        // Absent fields get SamplingRequest's defaults, the same as the in-process IChatClient's.
        double? temperature = b.Number("temperature", 0, 2);
        double? topP = b.Number("top_p", 0, 1);
        int? topK = (int?)b.Integer("top_k", -1, int.MaxValue);
        double? minP = b.Number("min_p", 0, 1);
        double? repeat = b.Number("repeat_penalty", 0, 100);
        if (repeat <= 0) throw JsonBody.OutOfRange("repeat_penalty", "above 0", "0");
        double? presence = b.Number("presence_penalty", -2, 2);
        double? frequency = b.Number("frequency_penalty", -2, 2);
        int? lastN = (int?)b.Integer("repeat_last_n", -1, int.MaxValue);
        long? seed = b.Integer("seed", long.MinValue, long.MaxValue);

        // max_completion_tokens is the newer name in chat; llama.cpp's n_predict is accepted as well.
        long? max = (chat ? b.Integer("max_completion_tokens", 1, int.MaxValue) : null)
                    ?? b.Integer("max_tokens", 1, int.MaxValue) ?? b.Integer("n_predict", 1, int.MaxValue);
        int n = (int)(b.Integer("n", 1, int.MaxValue) ?? 1);
        if (n > host.Options.Parallel)
            throw JsonBody.OutOfRange("n", $"at most {host.Options.Parallel} (the server's --parallel)", n.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (!chat && b.Integer("best_of", 1, int.MaxValue) is { } bestOf && bestOf != n)
            throw ApiException.Invalid("'best_of' other than 'n' is not supported.", "best_of", "unsupported_parameter");

        int topLogprobs = -1;
        if (chat)
        {
            bool logprobs = b.Bool("logprobs") ?? false;
            long? top = b.Integer("top_logprobs", 0, 20);
            if (top is not null && !logprobs) throw ApiException.Invalid("'top_logprobs' needs 'logprobs' set to true.", "top_logprobs");
            if (logprobs) topLogprobs = (int)(top ?? 0);
        }
        else if (b.Integer("logprobs", 0, 20) is { } k) topLogprobs = (int)k;

        bool stream = b.Bool("stream") ?? false;
        bool includeUsage = false;
        if (b.Get("stream_options") is { } so)
        {
            if (so.ValueKind != JsonValueKind.Object) throw JsonBody.WrongType("stream_options", "an object", so);
            if (!stream) throw ApiException.Invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options");
            if (JsonBody.Get(so, "include_usage") is { } iu)
                includeUsage = iu.ValueKind switch
                {
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    _ => throw JsonBody.WrongType("stream_options.include_usage", "a boolean", iu),
                };
        }

        Unsupported(b, chat);
        string? user = b.String("user");
        if (user is { Length: > 256 }) throw JsonBody.OutOfRange("user", "of at most 256 characters", $"{user.Length} characters");
        int priority = (int)(b.Integer("priority", -1_000_000, 1_000_000) ?? 0);

        var sampling = new SamplingRequest
        {
            Temperature = temperature,
            TopP = topP,
            TopK = topK,
            MinP = minP,
            RepeatPenalty = repeat,
            PresencePenalty = presence,
            FrequencyPenalty = frequency,
            RepeatLastN = lastN,
            Seed = seed,
        }.ToSamplerOptions();
        return new GenerationFields
        {
            Generation = new GenerationOptions
            {
                MaxTokens = max is { } m ? (int)m : -1,
                Sampling = sampling,
                StopStrings = Stops(b, limits.MaxStopStrings),
                Grammar = StructuredOutput.Parse(b, host),
                IgnoreEos = b.Bool("ignore_eos") ?? false, // llama.cpp's server and vLLM take it
            },
            Choices = n,
            TopLogprobs = topLogprobs,
            User = string.IsNullOrEmpty(user) ? fairnessKey : "user:" + user,
            Priority = priority,
            Stream = stream,
            IncludeUsage = includeUsage,
            MaxTokens = max is { } mt ? (int)mt : null,
        };
    }

    /// <summary>
    /// The fields of the newer APIs (Responses, Anthropic's Messages), which name their own: one choice, no penalties,
    /// top_k and min_p at llama.cpp's server defaults unless given.
    /// </summary>
    public static GenerationFields Simple(ModelHost host, string fairnessKey, double temperature, double topP, int? topK, int? maxTokens,
        IReadOnlyList<string> stops, bool stream, string? user)
    {
        if (user is { Length: > 256 }) throw JsonBody.OutOfRange("user", "of at most 256 characters", $"{user.Length} characters");
        var sampling = new SamplingRequest { Temperature = temperature, TopP = topP, TopK = topK }.ToSamplerOptions();
        return new GenerationFields
        {
            Generation = new GenerationOptions { MaxTokens = maxTokens ?? -1, Sampling = sampling, StopStrings = stops },
            User = string.IsNullOrEmpty(user) ? fairnessKey : "user:" + user,
            Stream = stream,
            MaxTokens = maxTokens,
        };
    }

    /// <summary>A list of stop strings (Anthropic's stop_sequences): strings only, at most the server's limit.</summary>
    public static IReadOnlyList<string> StopList(JsonElement? v, string param, int maxStops)
    {
        if (v is not { } a) return [];
        if (a.ValueKind != JsonValueKind.Array) throw JsonBody.WrongType(param, "an array of strings", a);
        if (a.GetArrayLength() > maxStops) throw JsonBody.OutOfRange(param, $"with at most {maxStops} strings", $"{a.GetArrayLength()}");
        var stops = new List<string>();
        foreach (var s in a.EnumerateArray())
        {
            if (s.ValueKind != JsonValueKind.String) throw JsonBody.WrongType(param, "an array of strings", s);
            if (s.GetString() is { Length: > 0 } text) stops.Add(text);
        }
        return stops;
    }

    private static IReadOnlyList<string> Stops(JsonBody b, int maxStops)
    {
        if (b.Get("stop") is not { } v) return [];
        if (v.ValueKind == JsonValueKind.String) return v.GetString() is { Length: > 0 } one ? [one] : [];
        if (v.ValueKind != JsonValueKind.Array) throw JsonBody.WrongType("stop", "a string or an array of strings", v);
        if (v.GetArrayLength() > maxStops) throw JsonBody.OutOfRange("stop", $"with at most {maxStops} strings", $"{v.GetArrayLength()}");
        var stops = new List<string>();
        foreach (var s in v.EnumerateArray())
        {
            if (s.ValueKind != JsonValueKind.String) throw JsonBody.WrongType("stop", "a string or an array of strings", s);
            if (s.GetString() is { Length: > 0 } text) stops.Add(text);
        }
        return stops;
    }

    /// <summary>Fields that would change the answer's meaning if ignored are refused rather than dropped.</summary>
    private static void Unsupported(JsonBody b, bool chat)
    {
        if (b.Get("logit_bias") is { ValueKind: JsonValueKind.Object } bias && bias.EnumerateObject().Any())
            throw ApiException.Invalid("'logit_bias' is not supported by this server.", "logit_bias", "unsupported_parameter");
        if (chat)
        {
            if (b.Get("functions") is { ValueKind: JsonValueKind.Array } a && a.GetArrayLength() > 0)
                throw ApiException.Invalid("'functions' (deprecated) is not supported by this server: use 'tools'.", "functions", "unsupported_parameter");
        }
        else
        {
            if (b.Bool("echo") == true) throw ApiException.Invalid("'echo' is not supported by this server.", "echo", "unsupported_parameter");
            if (b.Get("suffix") is { ValueKind: JsonValueKind.String } sfx && sfx.GetString() is { Length: > 0 })
                throw ApiException.Invalid("'suffix' is not supported by this server.", "suffix", "unsupported_parameter");
        }
    }

    /// <summary>OpenAI's context_length_exceeded: the prompt, or the prompt with max_tokens, does not fit.</summary>
    public static void CheckLength(ModelHost host, int promptTokens, int? maxTokens, string param)
    {
        int ctx = host.Model.Context;
        string what = param == "messages" ? "messages" : "prompt";
        if (promptTokens == 0) throw ApiException.Invalid($"The {what} is empty.", param);
        if (promptTokens >= ctx)
            throw ApiException.Invalid($"This model's maximum context length is {ctx} tokens. However, your {what} resulted in {promptTokens} tokens. Please reduce the length of the {what}.",
                param, "context_length_exceeded");
        if (maxTokens is { } m && (long)promptTokens + m > ctx)
            throw ApiException.Invalid($"This model's maximum context length is {ctx} tokens. However, you requested {(long)promptTokens + m} tokens ({promptTokens} in the {what}, {m} in the completion). Please reduce the length of the {what} or completion.",
                param, "context_length_exceeded");
    }
}
