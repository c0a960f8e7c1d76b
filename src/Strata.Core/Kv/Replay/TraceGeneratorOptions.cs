namespace Strata.Kv.Replay;

/// <summary>Chat traffic: conversations that resend their whole history each turn.</summary>
public sealed record MultiTurnOptions
{
    /// <summary>New conversations per second (Poisson).</summary>
    public double ConversationsPerSecond { get; init; } = 1;
    /// <summary>Mean planned turns per conversation (geometric, at least one).</summary>
    public double MeanTurns { get; init; } = 8;
    /// <summary>Share of conversations the user abandons at a uniformly random earlier turn.</summary>
    public double AbandonFraction { get; init; } = 0.2;
    /// <summary>Mean pause between a reply and the next user message (exponential).</summary>
    public double MeanThinkSeconds { get; init; } = 60;
    /// <summary>Decode time per output token, so the next turn starts after the reply is done.</summary>
    public double DecodeMsPerToken { get; init; } = 20;
    /// <summary>The chat application's system prompt, common to all conversations (0 for none).</summary>
    public int SystemPromptTokens { get; init; } = 1200;
    public int MedianUserTokens { get; init; } = 300;
    public int MedianOutputTokens { get; init; } = 400;
    /// <summary>A conversation ends when its next prompt would not fit.</summary>
    public int MaxContextTokens { get; init; } = 131_072;
}

/// <summary>Many apps behind one endpoint: a few system prompts, Zipf-popular, then unique user content.</summary>
public sealed record SharedSystemOptions
{
    public double RequestsPerSecond { get; init; } = 4;
    public int SystemPrompts { get; init; } = 16;
    public double ZipfExponent { get; init; } = 1.0;
    /// <summary>System prompt lengths are uniform in [Min, Max] tokens: several blocks each.</summary>
    public int MinSystemPromptTokens { get; init; } = 1024;
    public int MaxSystemPromptTokens { get; init; } = 12_288;
    public int MedianUserTokens { get; init; } = 400;
    public int MedianOutputTokens { get; init; } = 200;
}

/// <summary>Retrieval-augmented prompts: instruction, k retrieved documents, question.</summary>
public sealed record RagOptions
{
    public double RequestsPerSecond { get; init; } = 4;
    /// <summary>The shared instruction before the documents.</summary>
    public int InstructionTokens { get; init; } = 700;
    public int Documents { get; init; } = 1000;
    public double ZipfExponent { get; init; } = 0.9;
    public int MedianDocumentTokens { get; init; } = 1200;
    /// <summary>Documents per prompt, distinct, in retrieval-rank order.</summary>
    public int DocumentsPerQuery { get; init; } = 4;
    public int MedianQueryTokens { get; init; } = 60;
    /// <summary>Share of one-off queries whose documents are fresh (e.g. live search results), never seen again.</summary>
    public double OneOffFraction { get; init; } = 0.2;
    public int MedianOutputTokens { get; init; } = 250;
}

/// <summary>The three kinds interleaved by arrival time, each at its share of the total request rate.</summary>
public sealed record MixedOptions
{
    public double RequestsPerSecond { get; init; } = 4;
    public double MultiTurnShare { get; init; } = 0.5;
    public double SharedSystemShare { get; init; } = 0.25;
    public double RagShare { get; init; } = 0.25;
    /// <summary>The components' own rates are replaced by their shares of <see cref="RequestsPerSecond"/>.</summary>
    public MultiTurnOptions MultiTurn { get; init; } = new();
    public SharedSystemOptions SharedSystem { get; init; } = new();
    public RagOptions Rag { get; init; } = new();
}
