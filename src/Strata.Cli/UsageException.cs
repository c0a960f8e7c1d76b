namespace Strata.Cli;

/// <summary>A usage error found after parsing (e.g. a token id outside the vocabulary): one line on stderr, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
