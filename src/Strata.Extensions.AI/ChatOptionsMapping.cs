using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Strata.Chat;
using Strata.Chat.Tools;
using Strata.Engine;
using Strata.Grammar;
using Strata.Sampling;

namespace Strata.Extensions.AI;

/// <summary>
/// <see cref="ChatOptions"/> in the engine's terms. Sampling goes through <see cref="SamplingRequest"/>, so an option
/// left out gets the default the HTTP server gives the same field. Strata's own knobs come in
/// <see cref="ChatOptions.AdditionalProperties"/>: <c>min_p</c>, <c>repeat_penalty</c>, <c>repeat_last_n</c>,
/// <c>priority</c> (lower runs first), <c>user</c> (whom fair queuing counts the request against) and <c>grammar</c>
/// (GBNF text, as llama.cpp's server takes it). <see cref="ChatOptions.ResponseFormat"/> (JSON, or JSON with a schema)
/// and <c>grammar</c> constrain decoding; <see cref="ChatOptions.Tools"/> and <see cref="ChatOptions.ToolMode"/> are
/// offered to the template, a required call enforced by the call grammar.
/// </summary>
internal static class ChatOptionsMapping
{
    public const string MinP = "min_p", RepeatPenalty = "repeat_penalty", RepeatLastN = "repeat_last_n", Priority = "priority", User = "user", Grammar = "grammar";

    public static GenerationOptions Generation(ChatOptions? o, Model model)
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
            Grammar = OutputGrammar(o, model),
        };
    }

    /// <summary>The grammar that <see cref="ChatOptions.ResponseFormat"/> or <c>grammar</c> asks for; null for free text.</summary>
    private static TokenGrammar? OutputGrammar(ChatOptions? o, Model model)
    {
        string? fromFormat = o?.ResponseFormat switch
        {
            null or ChatResponseFormatText => null,
            ChatResponseFormatJson { Schema: { } schema } => Compile(() => JsonSchemaGrammar.ToGbnf(schema), "ResponseFormat"),
            ChatResponseFormatJson => JsonSchemaGrammar.JsonObjectGbnf,
            var f => throw new NotSupportedException($"ChatOptions.ResponseFormat {f.GetType().Name} is not supported (text, JSON, JSON with a schema)"),
        };
        string? fromGbnf = null;
        if (o?.AdditionalProperties?.TryGetValue(Grammar, out var g) == true && g is not null)
            fromGbnf = g as string ?? throw new ArgumentException($"ChatOptions.AdditionalProperties[\"{Grammar}\"] must be GBNF text", nameof(ChatOptions.AdditionalProperties));
        if (fromFormat is not null && fromGbnf is not null)
            throw new ArgumentException($"give either ChatOptions.ResponseFormat or AdditionalProperties[\"{Grammar}\"], not both", nameof(ChatOptions));
        if ((fromFormat ?? fromGbnf) is not { Length: > 0 } gbnf) return null;
        return Compile(() => TokenGrammar.Get(gbnf, model.Tokenizer, model.Config.VocabSize), fromFormat is not null ? "ResponseFormat" : $"AdditionalProperties[\"{Grammar}\"]");
    }

    private static T Compile<T>(Func<T> compile, string what)
    {
        try
        {
            return compile();
        }
        catch (GrammarException e)
        {
            throw new ArgumentException($"ChatOptions.{what}: {e.Message}", nameof(ChatOptions), e);
        }
    }

    /// <summary>The conversation's tools and tool choice from <see cref="ChatOptions.Tools"/>,
    /// <see cref="ChatOptions.ToolMode"/> and <see cref="ChatOptions.AllowMultipleToolCalls"/>.</summary>
    public static ChatConversation Conversation(List<Strata.Chat.ChatMessage> messages, ChatOptions? o)
    {
        var tools = new List<ToolDefinition>();
        foreach (var tool in o?.Tools ?? [])
        {
            if (tool is not AIFunctionDeclaration f)
                throw new NotSupportedException($"ChatOptions.Tools: '{tool.Name}' ({tool.GetType().Name}) is not supported: Strata offers functions (AIFunction, AIFunctionDeclaration)");
            if (!ToolDefinition.IsValidName(f.Name))
                throw new ArgumentException($"ChatOptions.Tools: '{f.Name}' is not a function name (1 to 64 of a-z, A-Z, 0-9, _ and -)", nameof(ChatOptions));
            if (tools.Any(t => t.Name == f.Name)) throw new ArgumentException($"ChatOptions.Tools: the function name '{f.Name}' appears twice", nameof(ChatOptions));
            tools.Add(new ToolDefinition(f.Name, string.IsNullOrEmpty(f.Description) ? null : f.Description,
                f.JsonSchema.ValueKind == JsonValueKind.Object ? f.JsonSchema : null));
        }
        var choice = o?.ToolMode switch
        {
            null or AutoChatToolMode => ToolChoice.Auto,
            NoneChatToolMode => ToolChoice.None,
            RequiredChatToolMode { RequiredFunctionName: { } name } => new ToolChoice(ToolChoiceMode.Function, name),
            RequiredChatToolMode => ToolChoice.Required,
            var m => throw new NotSupportedException($"ChatOptions.ToolMode {m.GetType().Name} is not supported"),
        };
        var conversation = new ChatConversation { Messages = messages, Tools = tools, ToolChoice = choice, ParallelToolCalls = o?.AllowMultipleToolCalls ?? true };
        if (conversation.ToolChoiceError() is { } error) throw new ArgumentException($"ChatOptions.ToolMode: {error}", nameof(ChatOptions));
        return conversation;
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
