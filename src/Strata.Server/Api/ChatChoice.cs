using Strata.Chat.Output;
using Strata.Engine;
using Strata.Engine.Serving;

namespace Strata.Server.Api;

/// <summary>
/// One choice of a chat answer as it is generated: the engine's text through the output parser (reasoning, content,
/// calls), the whole answer gathered, the logprob tokens, the reasoning tokens counted, and how it ended.
/// </summary>
public sealed class ChatChoice(ChatTurn turn)
{
    private readonly ChatOutputParser _parser = turn.NewParser();

    public ChatOutput Output { get; } = new();
    public List<TokenEvent> Tokens { get; } = new();
    public int ReasoningTokens { get; private set; }
    public StopReason? Reason { get; private set; }
    public string? StopString { get; private set; }
    public bool HasCalls => Output.Calls.Count > 0;

    /// <summary>A token's text through the parser; what it releases (the list is reused by the next call).</summary>
    public IReadOnlyList<ChatOutputEvent> Push(TokenEvent t)
    {
        bool before = _parser.InReasoning;
        var events = _parser.Push(t.Text);
        if (before || _parser.InReasoning) ReasoningTokens++;
        if (t.Logprobs is not null) Tokens.Add(t);
        Output.Add(events);
        return events;
    }

    /// <summary>The choice ended: the held-back text released and parsed to the end.</summary>
    public List<ChatOutputEvent> Finish(FinishEvent f)
    {
        Reason = f.Reason;
        StopString = f.StopString;
        var events = new List<ChatOutputEvent>(_parser.Push(f.Text));
        events.AddRange(_parser.Finish());
        Output.Add(events);
        return events;
    }

    /// <summary>Gathers a non-streamed answer's choices and usage; an engine error is a 500.</summary>
    public static async Task<(ChatChoice[] Choices, Usage Usage)> CollectAsync(IAsyncEnumerable<PromptEvent> events, ChatTurn turn, int count)
    {
        var choices = Enumerable.Range(0, count).Select(_ => new ChatChoice(turn)).ToArray();
        var usage = new Usage();
        await foreach (var (_, e) in events)
        {
            switch (e)
            {
                case TokenEvent t: choices[t.Choice].Push(t); break;
                case FinishEvent f: choices[f.Choice].Finish(f); break;
                case UsageEvent u: usage.Add(u); break;
                case ErrorEvent: throw new ApiException(500, "The server had an error while processing your request.", "server_error");
            }
        }
        foreach (var c in choices) usage.AddReasoning(c.ReasoningTokens);
        return (choices, usage);
    }
}
