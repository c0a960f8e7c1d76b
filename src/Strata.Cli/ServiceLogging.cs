using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Strata.Cli;

/// <summary>How the CLI's long-running services (serve, router) log: one line per message on stderr, like every other
/// message of the CLI; the framework's chatter held to warnings, Strata's own at information.</summary>
internal static class ServiceLogging
{
    public static void Configure(ILoggingBuilder logging, params string[] quietCategories)
    {
        logging.AddSimpleConsole(c =>
            {
                c.SingleLine = true;
                c.TimestampFormat = "HH:mm:ss ";
            })
            .AddFilter("Microsoft", LogLevel.Warning)
            .AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information)
            .AddFilter("Strata", LogLevel.Information);
        foreach (var category in quietCategories) logging.AddFilter(category, LogLevel.Warning);
        logging.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(c => c.LogToStandardErrorThreshold = LogLevel.Trace);
    }
}
