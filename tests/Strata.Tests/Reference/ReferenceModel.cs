using Strata.Gguf;
using Strata.Models;
using Strata.Tensors;

namespace Strata.Tests.Reference;

/// <summary>
/// A plain float64 forward pass written for clarity, not speed: the independent reference Strata's engine is checked
/// against. Weights are dequantized to double once; every sum is in double; the KV history is kept unrounded.
/// </summary>
public sealed class ReferenceModel
{
    private readonly ModelConfig _c;
    private readonly double[][] _embd;   // [vocab][dim]
    private readonly double[][] _out;    // [vocab][dim]
    private readonly double[] _outNorm;
    private readonly double[]? _ropeFactors;
    private readonly Layer[] _layers;

    private sealed record Layer(
        double[] AttnNorm, double[][] Q, double[][] K, double[][] V, double[][] O,
        double[]? QB, double[]? KB, double[]? VB, double[]? QNorm, double[]? KNorm,
        double[] FfnNorm, double[][] Gate, double[][] Up, double[][] Down);

    public ReferenceModel(string path)
    {
        using var f = GgufFile.Open(path);
        _c = ModelConfig.FromGguf(f);
        double[][] M(string name) => Matrix(f, f.FindTensor(name)!);
        double[]? V(string name) => f.FindTensor(name) is { } t ? Matrix(f, t)[0] : null;
        _embd = M(TensorNames.TokenEmbedding);
        _out = f.FindTensor(TensorNames.Output) is not null ? M(TensorNames.Output) : _embd;
        _outNorm = V(TensorNames.OutputNorm)!;
        _ropeFactors = V(TensorNames.RopeFrequencies);
        _layers = new Layer[_c.Layers];
        for (int l = 0; l < _c.Layers; l++)
        {
            _layers[l] = new Layer(
                V(TensorNames.AttnNorm(l))!, M(TensorNames.AttnQ(l)), M(TensorNames.AttnK(l)), M(TensorNames.AttnV(l)), M(TensorNames.AttnOutput(l)),
                V(TensorNames.AttnQBias(l)), V(TensorNames.AttnKBias(l)), V(TensorNames.AttnVBias(l)),
                V(TensorNames.AttnQNorm(l)), V(TensorNames.AttnKNorm(l)),
                V(TensorNames.FfnNorm(l))!, M(TensorNames.FfnGate(l)), M(TensorNames.FfnUp(l)), M(TensorNames.FfnDown(l)));
        }
    }

    public ModelConfig Config => _c;

    private static double[][] Matrix(GgufFile f, GgufTensorInfo t)
    {
        int cols = (int)t.Shape[0];
        int rows = (int)t.Rows;
        var data = f.TensorData(t);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(t.Type, cols);
        var tmp = new float[cols];
        var m = new double[rows][];
        for (int r = 0; r < rows; r++)
        {
            Dequantize.Row(t.Type, data.Slice(r * rowBytes, rowBytes), tmp);
            m[r] = Array.ConvertAll(tmp, x => (double)x);
        }
        return m;
    }

    /// <summary>Logits after every position: [tokens][vocab].</summary>
    public double[][] Logits(IReadOnlyList<int> tokens)
    {
        var c = _c;
        int hd = c.HeadDim;
        var keys = new List<double[]>[c.Layers];   // [layer][position][KvDim]
        var values = new List<double[]>[c.Layers];
        for (int l = 0; l < c.Layers; l++) { keys[l] = new(); values[l] = new(); }
        var result = new double[tokens.Count][];
        for (int pos = 0; pos < tokens.Count; pos++)
        {
            var x = (double[])_embd[tokens[pos]].Clone();
            for (int l = 0; l < c.Layers; l++)
            {
                var w = _layers[l];
                var xn = RmsNorm(x, w.AttnNorm, c.RmsEpsilon);
                var q = Add(MatVec(w.Q, xn), w.QB);
                var k = Add(MatVec(w.K, xn), w.KB);
                var v = Add(MatVec(w.V, xn), w.VB);
                for (int h = 0; h < c.Heads; h++) Head(q, h, w.QNorm, pos);
                for (int h = 0; h < c.KvHeads; h++) Head(k, h, w.KNorm, pos);
                keys[l].Add(k);
                values[l].Add(v);

                var att = new double[c.QDim];
                for (int h = 0; h < c.Heads; h++)
                {
                    int kvh = h / (c.Heads / c.KvHeads);
                    var scores = new double[pos + 1];
                    for (int p = 0; p <= pos; p++)
                    {
                        double s = 0;
                        for (int j = 0; j < hd; j++) s += q[h * hd + j] * keys[l][p][kvh * hd + j];
                        scores[p] = s / Math.Sqrt(hd);
                    }
                    double max = scores.Max();
                    double sum = 0;
                    for (int p = 0; p <= pos; p++) { scores[p] = Math.Exp(scores[p] - max); sum += scores[p]; }
                    for (int p = 0; p <= pos; p++)
                        for (int j = 0; j < hd; j++) att[h * hd + j] += scores[p] / sum * values[l][p][kvh * hd + j];
                }
                x = Add(x, MatVec(w.O, att));

                xn = RmsNorm(x, w.FfnNorm, c.RmsEpsilon);
                var g = MatVec(w.Gate, xn);
                var u = MatVec(w.Up, xn);
                for (int j = 0; j < g.Length; j++) g[j] = g[j] / (1 + Math.Exp(-g[j])) * u[j];
                x = Add(x, MatVec(w.Down, g));
            }
            result[pos] = MatVec(_out, RmsNorm(x, _outNorm, c.RmsEpsilon));
        }
        return result;
    }

    private void Head(double[] v, int h, double[]? norm, int pos)
    {
        int hd = _c.HeadDim;
        var head = new double[hd];
        Array.Copy(v, h * hd, head, 0, hd);
        if (norm is not null) head = RmsNorm(head, norm, _c.RmsEpsilon);
        int n = _c.RopeDims;
        for (int j = 0; j < n / 2; j++)
        {
            double theta = pos * _c.RopeFreqScale * Math.Pow(_c.RopeFreqBase, -2.0 * j / n);
            if (_ropeFactors is not null) theta /= _ropeFactors[j];
            double cos = Math.Cos(theta), sin = Math.Sin(theta);
            (int a, int b) = _c.Architecture.Rope == RopeStyle.Normal ? (2 * j, 2 * j + 1) : (j, j + n / 2);
            double x0 = head[a], x1 = head[b];
            head[a] = x0 * cos - x1 * sin;
            head[b] = x0 * sin + x1 * cos;
        }
        Array.Copy(head, 0, v, h * hd, hd);
    }

    private static double[] RmsNorm(double[] x, double[] w, double eps)
    {
        double ss = 0;
        foreach (var e in x) ss += e * e;
        double scale = 1 / Math.Sqrt(ss / x.Length + eps);
        var r = new double[x.Length];
        for (int i = 0; i < x.Length; i++) r[i] = x[i] * scale * w[i];
        return r;
    }

    private static double[] MatVec(double[][] m, double[] x)
    {
        var y = new double[m.Length];
        for (int r = 0; r < m.Length; r++)
        {
            double s = 0;
            var row = m[r];
            for (int j = 0; j < x.Length; j++) s += row[j] * x[j];
            y[r] = s;
        }
        return y;
    }

    private static double[] Add(double[] a, double[]? b)
    {
        if (b is null) return a;
        var r = new double[a.Length];
        for (int i = 0; i < a.Length; i++) r[i] = a[i] + b[i];
        return r;
    }
}
