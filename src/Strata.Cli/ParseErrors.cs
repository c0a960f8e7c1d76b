using System.CommandLine;
using System.CommandLine.Invocation;

namespace Strata.Cli;

/// <summary>
/// A parse error as one line: the first problem, with System.CommandLine's typo correction for an unknown option
/// or command ("did you mean --temp?") and the usage of a command whose arguments are missing.
/// </summary>
internal static class ParseErrors
{
    public static string OneLine(ParseResult parsed)
    {
        var command = parsed.CommandResult.Command;
        string see = $"(see '{CommandPath(command)} --help')";
        if (parsed.UnmatchedTokens.Count > 0)
        {
            string token = parsed.UnmatchedTokens[0];
            string what = token.StartsWith('-') ? $"unknown option '{token}'"
                : command.Subcommands.Any(c => !c.Hidden) ? $"unknown command '{token}'" : $"unexpected argument '{token}'";
            string where = command is RootCommand ? "" : $" for '{CommandPath(command)[(CliApp.Name.Length + 1)..]}'";
            var suggestions = TypoCorrections(parsed, token);
            return suggestions.Count > 0 ? $"{what}{where}: did you mean {string.Join(" or ", suggestions)}? {see}" : $"{what}{where} {see}";
        }
        foreach (var argument in command.Arguments)
        {
            int given = parsed.GetResult(argument)?.Tokens.Count ?? 0;
            if (given < argument.Arity.MinimumNumberOfValues) return $"missing {argument.HelpName ?? argument.Name}; usage: {Usage(command)} {see}";
        }
        string message = parsed.Errors.Count > 0 ? parsed.Errors[0].Message.TrimEnd('.') : "invalid command line";
        return $"{message} {see}";
    }

    /// <summary>"strata quantize", "strata kv stats": the words that lead to a command.</summary>
    public static string CommandPath(Command command)
    {
        var names = new List<string>();
        for (Symbol? s = command; s is Command c; s = s.Parents.FirstOrDefault())
            names.Insert(0, c is RootCommand ? CliApp.Name : c.Name);
        return string.Join(' ', names);
    }

    /// <summary>"strata quantize IN.gguf OUT.gguf TYPE [options]": the arguments in order, from the definition.</summary>
    public static string Usage(Command command) =>
        string.Join(' ', new[] { CommandPath(command) }
            .Concat(command.Arguments.Where(a => !a.Hidden).Select(a => a.Arity.MinimumNumberOfValues > 0 ? a.HelpName ?? a.Name : $"[{a.HelpName ?? a.Name}]"))
            .Append("[options]"));

    /// <summary>
    /// The suggestions System.CommandLine's own typo correction makes (the names a misspelt token most resembles),
    /// taken from what its parse-error action writes with help turned off.
    /// </summary>
    private static List<string> TypoCorrections(ParseResult parsed, string token)
    {
        if (parsed.Action is not ParseErrorAction action) return [];
        action.ShowHelp = false;
        action.ShowTypoCorrections = true;
        var output = new StringWriter();
        parsed.Invoke(new InvocationConfiguration { Output = output, Error = TextWriter.Null });
        // The shape it writes: "'TOKEN' was not matched. Did you mean one of the following?" then one name a line.
        var lines = output.ToString().Split('\n', StringSplitOptions.TrimEntries);
        int start = Array.FindIndex(lines, l => l.StartsWith($"'{token}'", StringComparison.Ordinal));
        return start < 0 ? [] : lines.Skip(start + 1).TakeWhile(l => l.Length > 0 && !l.Contains(' ')).Take(3).ToList();
    }
}
