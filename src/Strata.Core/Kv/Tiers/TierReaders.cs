using System.Collections.Concurrent;

namespace Strata.Kv.Tiers;

/// <summary>
/// Dedicated threads for reading blocks from slow tiers: a prefix load issues its reads at once and waits for all, so
/// a device sees several requests in flight. (Thread-pool threads would arrive one by one on a small machine, and
/// blocking reads would starve the pool.)
/// </summary>
internal static class TierReaders
{
    public const int Threads = 8;
    private static readonly BlockingCollection<Action> Work = new();
    private static int _started;

    /// <summary>Runs <paramref name="read"/> for every index in [0, count) on the reader threads; returns when all are done.</summary>
    public static void ForEach(int count, Action<int> read)
    {
        if (count == 1) { read(0); return; }
        if (Interlocked.Exchange(ref _started, 1) == 0)
            for (int t = 0; t < Threads; t++)
                new Thread(() => { foreach (var a in Work.GetConsumingEnumerable()) a(); }) { IsBackground = true, Name = $"strata-kv-reader-{t}" }.Start();
        using var done = new CountdownEvent(count);
        Exception? failure = null;
        for (int i = 0; i < count; i++)
        {
            int index = i;
            Work.Add(() =>
            {
                try { read(index); }
                catch (Exception e) { failure ??= e; }
                finally { done.Signal(); }
            });
        }
        done.Wait();
        if (failure is not null) throw new StrataException($"reading KV blocks failed: {failure.Message}", failure);
    }
}
