using System.Runtime.CompilerServices;
namespace Strata.Models;

/// <summary>
/// Rotary position embedding as ggml applies it: angle(p, j) = p · freqScale · base^(−2j/ropeDims) / factor[j];
/// normal style rotates (x[2j], x[2j+1]), neox style rotates (x[j], x[j + ropeDims/2]); elements past ropeDims pass.
/// </summary>
public sealed class Rope
{
    private readonly double[] _invFreq; // [RopeDims/2] angle per position of each pair
    private readonly RopeStyle _style;
    private readonly int _ropeDims;

    public Rope(ModelConfig c, float[]? factors)
    {
        _style = c.Architecture.Rope;
        _ropeDims = c.RopeDims;
        _invFreq = new double[c.RopeDims / 2];
        for (int j = 0; j < _invFreq.Length; j++)
        {
            double f = c.RopeFreqScale * Math.Pow(c.RopeFreqBase, -2.0 * j / c.RopeDims);
            _invFreq[j] = factors is null ? f : f / factors[j];
        }
    }

    public int Pairs => _invFreq.Length;

    /// <summary>Fills cos/sin tables ([Pairs] each) for one position; computed once per token, shared by all layers and heads.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Angles(int position, Span<float> cos, Span<float> sin)
    {
        for (int j = 0; j < _invFreq.Length; j++)
        {
            double theta = position * _invFreq[j];
            cos[j] = (float)Math.Cos(theta);
            sin[j] = (float)Math.Sin(theta);
        }
    }

    /// <summary>Rotates one head in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Apply(Span<float> head, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int half = _ropeDims / 2;
        if (_style == RopeStyle.Normal)
        {
            for (int j = 0; j < half; j++)
            {
                float x0 = head[2 * j], x1 = head[2 * j + 1];
                head[2 * j] = x0 * cos[j] - x1 * sin[j];
                head[2 * j + 1] = x0 * sin[j] + x1 * cos[j];
            }
        }
        else
        {
            for (int j = 0; j < half; j++)
            {
                float x0 = head[j], x1 = head[j + half];
                head[j] = x0 * cos[j] - x1 * sin[j];
                head[j + half] = x0 * sin[j] + x1 * cos[j];
            }
        }
    }
}
