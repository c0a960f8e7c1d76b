using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using Strata.Cli.Commands;

namespace Strata.Cli;

/// <summary>
/// The <c>strata</c> command tree and how it is run: parse, turn a parse error into one line on stderr with exit
/// code 2, invoke the command's action, and turn what it throws into one line (2 for the user's mistake, 1 for a bug).
/// </summary>
internal static class CliApp
{
    public const string Name = "strata";

    /// <summary>
    /// Every command. To add one: write Commands/XCommand.cs as a <c>Command</c> subclass (its options as fields,
    /// shared ones from <see cref="CommonOptions"/>, checked values from <see cref="Opt"/>, cross-option rules in
    /// <c>Validators</c>, the work in <c>SetAction</c>), list it here, and add its row to README's command table.
    /// A group such as <c>kv stats|clear|replay</c> is a <c>Command</c> whose subcommands are such classes.
    /// </summary>
    public static RootCommand Build()
    {
        var root = new RootCommand("strata — run GGUF language models on the CPU")
        {
            new RunCommand(),
            new LogitsCommand(),
            new TokenizeCommand(),
            new InspectCommand(),
            new ConvertCommand(),
            new QuantizeCommand(),
            new PerplexityCommand(),
            new KvCommand(),
            new BenchCommand(),
            new ServeCommand(),
            new RouterCommand(),
        };
        root.HelpName = Name;
        foreach (var version in root.Options.OfType<VersionOption>()) version.Action = new PrintVersion();
        // Older spellings of --help and --version.
        var help = new Command("help", "show this help") { Hidden = true };
        help.SetAction(_ => ShowHelp(root, Console.Out));
        var versionCommand = new Command("version", "show the version") { Hidden = true };
        versionCommand.SetAction(_ => { PrintVersion.Write(); return 0; });
        root.Add(help);
        root.Add(versionCommand);
        // No command at all: the overview, as a usage error.
        root.SetAction(_ => ShowHelp(root, Console.Out) is 0 ? 2 : 2);
        return root;
    }

    public static int Run(string[] args)
    {
        var root = Build();
        // No response files: a prompt such as "@alice hi" is text, not a file to read arguments from.
        var parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        try
        {
            if (parsed.Action is ParseErrorAction)
            {
                Console.Error.WriteLine($"{Name}: {ParseErrors.OneLine(parsed)}");
                return 2;
            }
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"{Name}: {e.Message} (see '{ParseErrors.CommandPath(parsed.CommandResult.Command)} --help')");
            return 2;
        }
        catch (StrataException e)
        {
            Console.Error.WriteLine($"{Name}: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or OutOfMemoryException)
        {
            Console.Error.WriteLine($"{Name}: {e.Message}");
            return 2;
        }
        catch (Exception e)
        {
            // A bug, not a user error: still one line, with the stack only on request.
            Console.Error.WriteLine($"{Name}: internal error: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}" +
                (Environment.GetEnvironmentVariable("STRATA_DEBUG") is { Length: > 0 } ? Environment.NewLine + e : " (set STRATA_DEBUG=1 for details)"));
            return 1;
        }
    }

    private static int ShowHelp(Command command, TextWriter output) =>
        command.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = output });

    /// <summary><c>--version</c>: "strata 1.2.3", as before the move to System.CommandLine.</summary>
    private sealed class PrintVersion : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            Write();
            return 0;
        }

        public static void Write() => Console.Out.WriteLine($"{Name} {typeof(StrataException).Assembly.GetName().Version?.ToString(3)}");
    }
}
