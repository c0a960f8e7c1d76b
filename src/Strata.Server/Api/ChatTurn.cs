using Strata.Chat;
using Strata.Chat.Output;
using Strata.Chat.Tools;
using Strata.Engine.Serving;
using Strata.Server.Hosting;

namespace Strata.Server.Api;

/// <summary>
/// One chat request made ready for the engine (<see cref="ChatTurnPlan"/>, shared with the in-process IChatClient),
/// with the API's fields and its errors: a template that cannot render the messages, tools that cannot be enforced
/// and a prompt too long for the context are 400s naming the field.
/// </summary>
public sealed class ChatTurn
{
    public required int[] Prompt { get; init; }
    public required GenerationFields Fields { get; init; }
    public required ChatOutputOptions Output { get; init; }
    /// <summary>The tools the template was given.</summary>
    public required IReadOnlyList<ToolDefinition> Offered { get; init; }
    /// <summary>Whether the request requires a call (required or a named function).</summary>
    public bool Enforced { get; init; }

    public InferenceRequest ToRequest() => Fields.ToRequest(Prompt);

    public ChatOutputParser NewParser() => new(Output);

    /// <param name="param">The request's field the messages came in (named in errors).</param>
    public static ChatTurn Prepare(ModelHost host, ChatConversation c, GenerationFields g, string param, Func<string>? newCallId = null)
    {
        ChatTurnPlan plan;
        try
        {
            plan = ChatTurnPlan.Prepare(host.Model, host.Template, host.ChatFormat, c, g.Generation, newCallId);
        }
        catch (ChatTemplateException e)
        {
            throw ApiException.Invalid($"The model's chat template could not render these messages: {e.Message}", param);
        }
        catch (ChatPlanException e) when (e.Problem == ChatPlanProblem.RequiredCallWithGrammar)
        {
            throw ApiException.Invalid("A required tool call cannot also be held to 'response_format' or 'grammar'.", "tool_choice");
        }
        catch (ChatPlanException e)
        {
            throw ApiException.Invalid($"Invalid 'tools': {e.Message}", "tools", "invalid_value");
        }
        GenerationFields.CheckLength(host, plan.Prompt.Length, g.MaxTokens, param);
        return new ChatTurn
        {
            Prompt = plan.Prompt,
            Fields = g with { Generation = plan.Generation },
            Output = plan.Output,
            Offered = plan.Offered,
            Enforced = plan.Enforced,
        };
    }
}

/// <summary>The API's check of a conversation's tool choice.</summary>
public static class ChatConversationChecks
{
    /// <summary>A named tool_choice must name a function the request offers; a required call needs tools.</summary>
    public static void CheckToolChoice(this ChatConversation c, string param)
    {
        if (c.ToolChoiceError() is { } error)
            throw ApiException.Invalid($"Invalid '{param}': {error}.", param, "invalid_value");
    }
}
