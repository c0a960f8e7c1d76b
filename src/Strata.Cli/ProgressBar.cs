using System.Diagnostics;

namespace Strata.Cli;

/// <summary>
/// A one-line progress bar on stderr, drawn only when stderr is a terminal (so logs and pipes stay clean), redrawn at
/// most ten times a second. Thread-safe.
/// </summary>
internal sealed class ProgressBar : IDisposable
{
    private readonly string _label;
    private readonly bool _enabled = !Console.IsErrorRedirected;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly object _lock = new();
    private long _lastDraw = -1000;
    private bool _drawn;

    public ProgressBar(string label) => _label = label;

    public void Report(long done, long total)
    {
        if (!_enabled || total <= 0) return;
        lock (_lock)
        {
            long now = _clock.ElapsedMilliseconds;
            if (done < total && now - _lastDraw < 100) return;
            _lastDraw = now;
            double f = Math.Clamp((double)done / total, 0, 1);
            const int width = 30;
            int filled = (int)(f * width);
            string eta = f > 0.01 && f < 1 ? $" ETA {TimeSpan.FromSeconds(now / 1000.0 * (1 - f) / f):mm\\:ss}" : "";
            Console.Error.Write($"\r{_label} [{new string('#', filled)}{new string('.', width - filled)}] {f * 100,5:F1}%{eta}   ");
            _drawn = true;
        }
    }

    public void Dispose()
    {
        if (_drawn) Console.Error.WriteLine();
    }
}
