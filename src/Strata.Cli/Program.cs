using Strata;
using Strata.Cli;
using Strata.Cli.Commands;

// Entry point: dispatches to a command and turns every user-facing error into one line on stderr and exit code 2.
Console.OutputEncoding = new System.Text.UTF8Encoding(false);
try
{
    if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
    {
        Console.Out.Write(Usage.Text);
        return args.Length == 0 ? 2 : 0;
    }
    var rest = args.Skip(1).ToArray();
    return args[0] switch
    {
        "run" => RunCommand.Execute(rest),
        "logits" => LogitsCommand.Execute(rest),
        "tokenize" => TokenizeCommand.Execute(rest),
        "inspect" => InspectCommand.Execute(rest),
        "convert" => ConvertCommand.Execute(rest),
        "quantize" => QuantizeCommand.Execute(rest),
        "perplexity" => PerplexityCommand.Execute(rest),
        "--version" or "version" => Version(),
        _ => throw new UsageException($"unknown command '{args[0]}'"),
    };
}
catch (UsageException e)
{
    Console.Error.WriteLine($"strata: {e.Message} (see 'strata --help')");
    return 2;
}
catch (StrataException e)
{
    Console.Error.WriteLine($"strata: {e.Message}");
    return 2;
}
catch (Exception e) when (e is IOException or UnauthorizedAccessException or OutOfMemoryException)
{
    Console.Error.WriteLine($"strata: {e.Message}");
    return 2;
}
catch (Exception e)
{
    // A bug, not a user error: still one line, with the stack only on request.
    Console.Error.WriteLine($"strata: internal error: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}" +
        (Environment.GetEnvironmentVariable("STRATA_DEBUG") is { Length: > 0 } ? Environment.NewLine + e : " (set STRATA_DEBUG=1 for details)"));
    return 1;
}

static int Version()
{
    Console.WriteLine($"strata {typeof(StrataException).Assembly.GetName().Version}");
    return 0;
}
