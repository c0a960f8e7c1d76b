using Spectre.Console;
using Spectre.Console.Rendering;

namespace Strata.Cli;

/// <summary>
/// Spectre.Console, only where a person is watching: a console over stdout or stderr exists only when that stream is
/// a terminal, so redirected output (pipes, files, the tests) never carries ANSI codes or progress redraws.
/// </summary>
internal static class Terminal
{
    /// <summary>Whether <see cref="WithProgress"/> draws anything (stderr is a terminal).</summary>
    public static bool ShowsProgress => !Console.IsErrorRedirected;

    /// <summary>A console writing to stdout when it is a terminal; null when stdout is redirected.</summary>
    public static IAnsiConsole? Stdout => Console.IsOutputRedirected ? null : Create(Console.Out);

    /// <summary>
    /// Runs <paramref name="work"/> with a progress callback (done, total) that drives a bar with rate and ETA on
    /// stderr, or with null when stderr is not a terminal. Safe to call from worker threads.
    /// </summary>
    /// <param name="unit">What is counted, shown in the rate ("M weights/s").</param>
    /// <param name="scale">Units per displayed unit: 1e6 shows millions.</param>
    public static T WithProgress<T>(string label, string unit, Func<Action<long, long>?, T> work, double scale = 1e6)
    {
        if (!ShowsProgress) return work(null);
        return Create(Console.Error).Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RateColumn(unit, scale), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(label), autoStart: true, maxValue: 1);
                var result = work((done, total) =>
                {
                    if (total <= 0) return;
                    task.MaxValue = total;
                    task.Value = done;
                });
                task.Value = task.MaxValue; // a finished job shows 100% even when the last report was skipped
                return result;
            });
    }

    private static IAnsiConsole Create(TextWriter writer) => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(writer),
        Ansi = AnsiSupport.Detect,
        ColorSystem = ColorSystemSupport.Detect,
        Interactive = InteractionSupport.Detect,
    });

    /// <summary>"12.3 M weights/s": the task's speed over Spectre's sampling window.</summary>
    private sealed class RateColumn(string unit, double scale) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(task.Speed is double s ? $"{s / scale:F1}{(scale == 1e6 ? " M " : " ")}{unit}/s" : "", new Style(Color.Grey));
    }
}
