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

    /// <summary>Starts <paramref name="read"/> for every index in [0, count) on the reader threads.</summary>
    public static Batch Begin(int count, Action<int> read)
    {
        if (Interlocked.Exchange(ref _started, 1) == 0)
            for (int t = 0; t < Threads; t++)
                new Thread(() => { foreach (var a in Work.GetConsumingEnumerable()) a(); }) { IsBackground = true, Name = $"strata-kv-reader-{t}" }.Start();
        var batch = new Batch(count);
        for (int i = 0; i < count; i++)
        {
            int index = i;
            Work.Add(() =>
            {
                try { read(index); }
                catch (Exception e) { batch.Failure ??= e; }
                finally { batch.Done.Signal(); }
            });
        }
        return batch;
    }

    /// <summary>Reads in flight.</summary>
    public sealed class Batch(int count)
    {
        internal CountdownEvent Done { get; } = new(count);
        internal Exception? Failure { get; set; }
        public bool IsCompleted => Done.IsSet;

        public void Wait()
        {
            Done.Wait();
            if (Failure is not null) throw new StrataException($"reading KV blocks failed: {Failure.Message}", Failure);
        }
    }
}
