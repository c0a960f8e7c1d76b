using System.Diagnostics;
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
    /// short decode segments, each against the better of the bandwidth probes taken right before and right after it,
    /// so a neighbour on a shared machine that slows one slows the other too.
    /// </summary>
    public double BandwidthFraction { get; init; }
    /// <summary>The lowest and highest of the bandwidth probes (<see cref="MemoryBandwidthGBs"/> is their median).</summary>
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
/// repeats; the weight bytes one decoded token reads; the machine's read bandwidth on the model's own threads,
/// probed between short decode segments; and, with a batch, the aggregate decode rate of several sequences in one forward pass.
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
        long steps = (long)o.Repeat * (2 + (o.Batch > 1 ? 1 : 0)) + 1, done = 0;

        WarmUp(model, Token, logits);
        ForwardProfile? pp = o.Profile ? new() : null, dp = o.Profile ? new() : null, bp = o.Profile ? new() : null;
        var prefill = new List<double>();
        var decode = new List<double>();
        var batch = new List<double>();
        long bytesPerToken = WeightBytesPerToken(model.Transformer.Weights);
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

            model.Transformer.Profile = null;
            if (o.Batch > 1)
            {
                batch.Add(BatchDecode(model, o, Token, logits, bp));
                progress?.Invoke(++done, steps);
            }
        }
        model.Transformer.Profile = null;
        // The probe's own buffer must not count as the model's peak: noted before it, reset after it.
        long peak = PeakResident.Bytes();
        var paired = PairedBandwidth(model, Token, logits, Median(decode), bytesPerToken);
        PeakResident.Reset();
        progress?.Invoke(++done, steps);
        return new SpeedBenchmarkResult(Median(prefill), Median(decode), bytesPerToken, Median(paired.Bandwidth), o.Batch > 1 ? Median(batch) : null)
        {
            BandwidthFraction = Median(paired.Fraction),
            MemoryBandwidthRangeGBs = (paired.Bandwidth.Min(), paired.Bandwidth.Max()),
            PrefillProfile = pp, DecodeProfile = dp, BatchProfile = o.Batch > 1 ? bp : null, PeakResidentBytes = peak,
        };
    }

    /// <summary>Decode segments alternated with bandwidth probes; per segment its rate against the probes around it.</summary>
    private sealed record PairedMeasure(List<double> Bandwidth, List<double> Fraction);

    /// <summary>
    /// The share of the read bandwidth decode reaches, measured where the two can be compared. On a shared host the
    /// bandwidth a core gets swings by a third within seconds, so a probe taken once, or once per decode run, is
    /// compared with decode under other neighbours. Here short decode segments (at least 4 tokens, about 0.1 s)
    /// alternate with short probes over one buffer allocated once; each segment is held against the better of the
    /// probes before and after it, and the fraction is the median over the segments.
    /// </summary>
    private static PairedMeasure PairedBandwidth(Model model, Func<int> token, float[] logits, double decodeRate, long bytesPerToken)
    {
        const int Segments = 8;
        int vocab = model.Config.VocabSize;
        // Within the context with room for the first token of a fresh sequence, however small -c was made.
        int perSegment = (int)Math.Min(Math.Max(4, Math.Ceiling(0.1 * decodeRate)), Math.Max(1, model.Context - 2));
        using var probe = new BandwidthProbe(model.Transformer.Pool);
        var bandwidth = new List<double> { probe.Measure() };
        var fraction = new List<double>();
        var seq = model.NewSequence();
        try
        {
            model.Transformer.Forward([token()], seq, logits);
            for (int s = 0; s < Segments; s++)
            {
                if (seq.Length + perSegment >= model.Context)
                {
                    seq.Dispose();
                    seq = model.NewSequence();
                    model.Transformer.Forward([token()], seq, logits);
                }
                var sw = Stopwatch.StartNew();
                for (int g = 0; g < perSegment; g++) model.Transformer.Forward([ArgMax(logits.AsSpan(0, vocab))], seq, logits);
                double rate = perSegment / sw.Elapsed.TotalSeconds;
                bandwidth.Add(probe.Measure());
                fraction.Add(rate * bytesPerToken / (Math.Max(bandwidth[^2], bandwidth[^1]) * 1e9));
            }
        }
        finally
        {
            seq.Dispose();
        }
        return new PairedMeasure(bandwidth, fraction);
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
