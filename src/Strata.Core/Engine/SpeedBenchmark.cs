using System.Diagnostics;
using System.Runtime.Intrinsics;
using Strata.IO;
using Strata.Kv;
using Strata.Models;
using Strata.Tensors;

namespace Strata.Engine;

/// <summary>What <c>strata bench</c> measures.</summary>
public sealed record SpeedBenchmarkOptions
{
    public int PromptTokens { get; init; } = 512;
    public int GenTokens { get; init; } = 128;
    public int Repeat { get; init; } = 3;
    /// <summary>Sequences decoded together for the batched figure; 1 skips it.</summary>
    public int Batch { get; init; } = 1;
    /// <summary>Also time each part of the forward pass (prefill, decode and batch decode separately).</summary>
    public bool Profile { get; init; }
}

public sealed record SpeedBenchmarkResult(
    double PrefillTokensPerSecond,
    double DecodeTokensPerSecond,
    long BytesPerToken,
    double MemoryBandwidthGBs,
    double? BatchDecodeTokensPerSecond)
{
    /// <summary>
    /// The share of the measured read bandwidth that decode reaches (bytes read per token × tokens/s): the median over
    /// the repeats of each decode run against the bandwidth measured right after it, so a neighbour on a shared machine
    /// that slows one slows the other too.
    /// </summary>
    public double BandwidthFraction { get; init; }
    /// <summary>The lowest and highest of the per-repeat bandwidth measures (<see cref="MemoryBandwidthGBs"/> is their median).</summary>
    public (double Min, double Max) MemoryBandwidthRangeGBs { get; init; }

    /// <summary>With <see cref="SpeedBenchmarkOptions.Profile"/>: where the time of prefill, decode and batch decode went.</summary>
    public ForwardProfile? PrefillProfile { get; init; }
    public ForwardProfile? DecodeProfile { get; init; }
    public ForwardProfile? BatchProfile { get; init; }
    /// <summary>The process's peak resident memory over the runs, leaving out the bandwidth probe's own buffer.</summary>
    public long PeakResidentBytes { get; init; }
}

/// <summary>
/// Prefill and decode speed of a loaded model on random tokens, from an empty cache (no prefix reuse), median of the
/// repeats; the weight bytes one decoded token reads; the machine's read bandwidth measured after every decode run on
/// the model's own threads; and, with a batch, the aggregate decode rate of several sequences in one forward pass.
/// </summary>
public static class SpeedBenchmark
{
    public static SpeedBenchmarkResult Run(Model model, SpeedBenchmarkOptions o, Action<long, long>? progress = null)
    {
        if (o.PromptTokens + o.GenTokens >= model.Context)
            throw new StrataException($"--prompt-tokens {o.PromptTokens} plus --gen-tokens {o.GenTokens} exceed the context of {model.Context}: raise -c");
        var rng = new Random(1234);
        var vocab = model.Config.VocabSize;
        int Token() => rng.Next(Math.Min(3, vocab - 1), vocab);
        var logits = new float[Math.Max(1, o.Batch) * vocab];
        long steps = (long)o.Repeat * (2 + (o.Batch > 1 ? 1 : 0)), done = 0;

        WarmUp(model, Token, logits);
        ForwardProfile? pp = o.Profile ? new() : null, dp = o.Profile ? new() : null, bp = o.Profile ? new() : null;
        var prefill = new List<double>();
        var decode = new List<double>();
        var batch = new List<double>();
        var bandwidth = new List<double>();
        var fraction = new List<double>();
        long bytesPerToken = WeightBytesPerToken(model.Transformer.Weights), peak = 0;
        bool peakResets = true;
        for (int r = 0; r < o.Repeat; r++)
        {
            var prompt = Enumerable.Range(0, o.PromptTokens).Select(_ => Token()).ToArray();
            using var seq = model.NewSequence();
            model.Transformer.Profile = pp;
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < prompt.Length; i += model.Transformer.MaxBatch)
                model.Transformer.Forward(prompt.AsSpan(i, Math.Min(model.Transformer.MaxBatch, prompt.Length - i)), seq, logits);
            prefill.Add(prompt.Length / sw.Elapsed.TotalSeconds);
            progress?.Invoke(++done, steps);

            model.Transformer.Profile = dp;
            sw.Restart();
            for (int g = 0; g < o.GenTokens; g++) model.Transformer.Forward([ArgMax(logits.AsSpan(0, vocab))], seq, logits);
            decode.Add(o.GenTokens / sw.Elapsed.TotalSeconds);
            progress?.Invoke(++done, steps);

            // The probe's own 512 MiB must not count as the model's peak: noted before it, reset after it.
            if (peakResets) peak = Math.Max(peak, PeakResident.Bytes());
            bandwidth.Add(MemoryBandwidth(model.Transformer.Pool));
            peakResets = PeakResident.Reset();
            fraction.Add(decode[^1] * bytesPerToken / (bandwidth[^1] * 1e9));

            model.Transformer.Profile = null;
            if (o.Batch > 1)
            {
                batch.Add(BatchDecode(model, o, Token, logits, bp));
                progress?.Invoke(++done, steps);
            }
        }
        model.Transformer.Profile = null;
        if (peakResets) peak = Math.Max(peak, PeakResident.Bytes());
        return new SpeedBenchmarkResult(Median(prefill), Median(decode), bytesPerToken, Median(bandwidth), o.Batch > 1 ? Median(batch) : null)
        {
            BandwidthFraction = Median(fraction),
            MemoryBandwidthRangeGBs = (bandwidth.Min(), bandwidth.Max()),
            PrefillProfile = pp, DecodeProfile = dp, BatchProfile = o.Batch > 1 ? bp : null, PeakResidentBytes = peak,
        };
    }

    /// <summary>
    /// Forward passes until the JIT has tiered up the code around the kernels and the weights are paged in: short
    /// prompts and a few decoded tokens, for at least <paramref name="minimum"/> (default 0.5 s) and 40 calls. The
    /// runtime recompiles a method after 30 calls, 100 ms after the last new method was compiled and on a
    /// background thread that shares the cores with the pool; a run measured during that (the default model's
    /// prefill of 200 tokens takes 15–30 ms) read at a third of the steady rate.
    /// </summary>
    public static void WarmUp(Model model, Func<int> token, float[] logits, TimeSpan? minimum = null)
    {
        var least = minimum ?? TimeSpan.FromSeconds(0.5);
        int chunk = Math.Min(32, model.Context / 4), calls = 0;
        var prompt = new int[chunk];
        var sw = Stopwatch.StartNew();
        while (calls < 40 || sw.Elapsed < least)
        {
            using var seq = model.NewSequence();
            for (int i = 0; i < chunk; i++) prompt[i] = token();
            model.Transformer.Forward(prompt, seq, logits);
            calls++;
            for (int g = 0; g < 8 && seq.Length < model.Context; g++, calls++) model.Transformer.Forward([token()], seq, logits);
        }
    }

    /// <summary>B sequences with short prompts, then GenTokens steps of one token each, all in one batch per step.</summary>
    private static double BatchDecode(Model model, SpeedBenchmarkOptions o, Func<int> token, float[] logits, ForwardProfile? profile)
    {
        int b = o.Batch, vocab = model.Config.VocabSize;
        var seqs = new KvSequence[b];
        var entries = new BatchEntry[b];
        var tokens = new int[b];
        try
        {
            for (int s = 0; s < b; s++)
            {
                seqs[s] = model.NewSequence();
                model.Transformer.Forward([token(), token(), token(), token()], seqs[s], logits);
                tokens[s] = ArgMax(logits.AsSpan(0, vocab));
                entries[s] = new BatchEntry(seqs[s], 1);
            }
            model.Transformer.Profile = profile;
            var sw = Stopwatch.StartNew();
            for (int g = 0; g < o.GenTokens; g++)
            {
                model.Transformer.Forward(tokens, entries, logits);
                for (int s = 0; s < b; s++) tokens[s] = ArgMax(logits.AsSpan(s * vocab, vocab));
            }
            return (double)b * o.GenTokens / sw.Elapsed.TotalSeconds;
        }
        finally
        {
            model.Transformer.Profile = null;
            foreach (var s in seqs) s?.Dispose();
        }
    }

    /// <summary>Bytes of weights one decoded token reads: every matrix, plus one embedding row.</summary>
    public static long WeightBytesPerToken(ModelWeights w)
    {
        long bytes = 0;
        foreach (var l in w.Layers) bytes += l.Q.ByteSize + l.K.ByteSize + l.V.ByteSize + l.Output.ByteSize + l.Gate.ByteSize + l.Up.ByteSize + l.Down.ByteSize;
        bytes += w.Output.ByteSize + w.TokenEmbedding.ByteSize / Math.Max(1, w.TokenEmbedding.Shape[^1]);
        return bytes;
    }

    /// <summary>Read bandwidth in GB/s: the pool's threads summing a buffer far larger than the caches, best of 5.</summary>
    public static unsafe double MemoryBandwidth(ComputePool pool, long bytes = 512L << 20)
    {
        int chunks = pool.Threads * 16;
        long perChunk = bytes / chunks / 64 * 64;
        // On huge pages, as the repacked weights are: with 4 KiB pages every page is a TLB miss and a point where
        // the hardware prefetchers stop, which would measure less than decode itself reaches.
        var buffer = PageAdvice.AllocateForStreaming(perChunk * chunks);
        try
        {
            // Touched once so the timed passes read committed pages, not the zero page.
            for (int c = 0; c < chunks; c++) new Span<byte>(buffer + c * perChunk, (int)perChunk).Fill(1);
            var sums = new float[chunks];
            Action<int, int, int> body = (begin, end, _) =>
            {
                for (int c = begin; c < end; c++)
                {
                    var p = (float*)(buffer + c * perChunk);
                    long n = perChunk / sizeof(float);
                    // Four chains, so the adds' latency (3-4 cycles) never limits the reads: one chain caps a core
                    // near 32 bytes per add latency, close to what one core can pull from DRAM.
                    Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    long i = 0;
                    for (; i + 32 <= n; i += 32)
                    {
                        a0 += Vector256.Load(p + i); a1 += Vector256.Load(p + i + 8);
                        a2 += Vector256.Load(p + i + 16); a3 += Vector256.Load(p + i + 24);
                    }
                    for (; i + 8 <= n; i += 8) a0 += Vector256.Load(p + i);
                    sums[c] = Vector256.Sum((a0 + a1) + (a2 + a3));
                }
            };
            double best = 0;
            for (int rep = 0; rep < 5; rep++)
            {
                var sw = Stopwatch.StartNew();
                pool.ParallelFor(chunks, body);
                best = Math.Max(best, perChunk * chunks / sw.Elapsed.TotalSeconds / 1e9);
            }
            return best;
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(buffer);
        }
    }

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
