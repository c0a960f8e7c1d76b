using System.Diagnostics;

namespace Strata.Models;

/// <summary>The parts of a forward pass that <see cref="ForwardProfile"/> times.</summary>
public enum ForwardPhase
{
    /// <summary>Embedding rows and rope angles.</summary>
    Embed,
    /// <summary>RMS norms, bias, residual adds and the SwiGLU product.</summary>
    Elementwise,
    /// <summary>Activation rows converted to the kernels' formats (int8 blocks for quantized weights).</summary>
    Prepare,
    /// <summary>Q, K, V projections.</summary>
    MatMulQkv,
    /// <summary>Per-head norm, rope and the KV rows written into the cache.</summary>
    RopeAndKv,
    /// <summary>Scores, softmax and weighted values against the cache.</summary>
    Attention,
    /// <summary>The attention output projection.</summary>
    MatMulOutput,
    /// <summary>Gate and up projections.</summary>
    MatMulGateUp,
    /// <summary>The down projection.</summary>
    MatMulDown,
    /// <summary>Final norm and the output head.</summary>
    Logits,
}

/// <summary>
/// Wall time of each part of the forward pass, summed over calls (set <see cref="Transformer.Profile"/>); what
/// `strata bench --profile` prints. Costs two timestamps per part when set, nothing when not.
/// </summary>
public sealed class ForwardProfile
{
    private readonly long[] _ticks = new long[Enum.GetValues<ForwardPhase>().Length];

    public long Calls { get; private set; }
    public long Tokens { get; private set; }

    internal void Add(ForwardPhase phase, long ticks)
    {
        _ticks[(int)phase] += ticks - _prepareInFlight;
        _prepareInFlight = 0;
    }

    /// <summary>Prepare time is measured inside a matmul phase; it is counted as Prepare and taken off the phase that holds it.</summary>
    private long _prepareInFlight;

    internal void MovePrepare(long ticks)
    {
        _ticks[(int)ForwardPhase.Prepare] += ticks;
        _prepareInFlight += ticks;
    }

    internal void Call(int tokens)
    {
        Calls++;
        Tokens += tokens;
    }

    public TimeSpan this[ForwardPhase phase] => Stopwatch.GetElapsedTime(0, _ticks[(int)phase]);

    public TimeSpan Total => Stopwatch.GetElapsedTime(0, _ticks.Sum());

    public void Reset()
    {
        Array.Clear(_ticks);
        Calls = Tokens = 0;
    }

    /// <summary>One line per phase: milliseconds per call and share of the total.</summary>
    public IEnumerable<(ForwardPhase Phase, double MsPerCall, double Share)> Rows()
    {
        double total = Math.Max(1, _ticks.Sum());
        foreach (var p in Enum.GetValues<ForwardPhase>())
            yield return (p, this[p].TotalMilliseconds / Math.Max(1, Calls), _ticks[(int)p] / total);
    }
}
