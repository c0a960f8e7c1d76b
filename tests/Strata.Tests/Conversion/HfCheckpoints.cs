using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Tests.Support;
using Strata.Tests.Tokenizers;

namespace Strata.Tests.Conversion;

/// <summary>A small Hugging Face-style checkpoint a test builds: random weights in the given dtype, a real tokenizer.</summary>
public sealed record HfSpec(
    string Name,
    string HfArch,
    string Tokenizer,
    int Dim = 64,
    int Layers = 2,
    int Heads = 4,
    int KvHeads = 2,
    int FeedForward = 128,
    int? HeadDim = null,
    int? VocabSize = null,
    bool Tied = false,
    string DType = "F32",
    int Shards = 1,
    float RopeTheta = 10000f,
    string? RopeScaling = null,
    string OutType = "f32")
{
    public override string ToString() => Name;
}

/// <summary>
/// Writes HF checkpoints (config.json, safetensors, tokenizer.json, tokenizer_config.json) and keeps the weights as
/// the safetensors hold them, in HF's own layout, for <see cref="HfReferenceModel"/>.
/// </summary>
public static class HfCheckpoints
{
    public sealed record Built(string Dir, HfSpec Spec, Dictionary<string, (long[] Shape, float[] Values)> Weights, JsonObject Config);

    public static Built Write(HfSpec s, string dir)
    {
        Directory.CreateDirectory(dir);
        string tokDir = Path.Combine(VocabFixture.CacheDir, s.Tokenizer);
        File.Copy(Path.Combine(tokDir, "tokenizer.json"), Path.Combine(dir, "tokenizer.json"));
        File.Copy(Path.Combine(tokDir, "tokenizer_config.json"), Path.Combine(dir, "tokenizer_config.json"));
        int tokens = CountTokens(Path.Combine(tokDir, "tokenizer.json"));
        int vocab = s.VocabSize ?? tokens;
        int hd = s.HeadDim ?? s.Dim / s.Heads;
        int qDim = s.Heads * hd, kvDim = s.KvHeads * hd;
        var rng = new Random(s.Name.Length * 7919 + s.Dim);
        var weights = new Dictionary<string, (long[], float[])>();
        var order = new List<string>();

        void Matrix(string name, int rows, int cols, double scale)
        {
            var v = new float[rows * cols];
            for (int i = 0; i < v.Length; i++) v[i] = (float)(TestModels.Gaussian(rng) * scale);
            weights[name] = ([rows, cols], SafetensorsWriter.Round(v, s.DType));
            order.Add(name);
        }
        void Vector(string name, int n, double center, double spread)
        {
            var v = new float[n];
            for (int i = 0; i < n; i++) v[i] = (float)(center + TestModels.Gaussian(rng) * spread);
            weights[name] = ([n], SafetensorsWriter.Round(v, s.DType));
            order.Add(name);
        }

        Matrix("model.embed_tokens.weight", vocab, s.Dim, 1.0);
        for (int l = 0; l < s.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            Vector(p + "input_layernorm.weight", s.Dim, 1.0, 0.1);
            Matrix(p + "self_attn.q_proj.weight", qDim, s.Dim, 1 / Math.Sqrt(s.Dim));
            Matrix(p + "self_attn.k_proj.weight", kvDim, s.Dim, 1 / Math.Sqrt(s.Dim));
            Matrix(p + "self_attn.v_proj.weight", kvDim, s.Dim, 1 / Math.Sqrt(s.Dim));
            Matrix(p + "self_attn.o_proj.weight", s.Dim, qDim, 1 / Math.Sqrt(qDim));
            if (s.HfArch == "Qwen2ForCausalLM")
            {
                Vector(p + "self_attn.q_proj.bias", qDim, 0, 0.3);
                Vector(p + "self_attn.k_proj.bias", kvDim, 0, 0.3);
                Vector(p + "self_attn.v_proj.bias", kvDim, 0, 0.3);
            }
            if (s.HfArch == "Qwen3ForCausalLM")
            {
                Vector(p + "self_attn.q_norm.weight", hd, 1.0, 0.1);
                Vector(p + "self_attn.k_norm.weight", hd, 1.0, 0.1);
            }
            Vector(p + "post_attention_layernorm.weight", s.Dim, 1.0, 0.1);
            Matrix(p + "mlp.gate_proj.weight", s.FeedForward, s.Dim, 1 / Math.Sqrt(s.Dim));
            Matrix(p + "mlp.up_proj.weight", s.FeedForward, s.Dim, 1 / Math.Sqrt(s.Dim));
            Matrix(p + "mlp.down_proj.weight", s.Dim, s.FeedForward, 1 / Math.Sqrt(s.FeedForward));
        }
        Vector("model.norm.weight", s.Dim, 1.0, 0.1);
        if (!s.Tied) Matrix("lm_head.weight", vocab, s.Dim, 4 / Math.Sqrt(s.Dim));

        // Shards: consecutive runs of tensors, with an index when there is more than one.
        var shards = new List<List<string>>();
        int per = (order.Count + s.Shards - 1) / s.Shards;
        for (int i = 0; i < order.Count; i += per) shards.Add(order.Skip(i).Take(per).ToList());
        var weightMap = new JsonObject();
        for (int i = 0; i < shards.Count; i++)
        {
            string file = shards.Count == 1 ? "model.safetensors" : $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            SafetensorsWriter.Write(Path.Combine(dir, file), shards[i].Select(n => new SafetensorsWriter.Tensor(n, s.DType, weights[n].Item1, weights[n].Item2)),
                new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var n in shards[i]) weightMap[n] = file;
        }
        if (shards.Count > 1)
            File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = 0 }, ["weight_map"] = weightMap }.ToJsonString());

        var config = new JsonObject
        {
            ["architectures"] = new JsonArray(s.HfArch),
            ["hidden_size"] = s.Dim,
            ["intermediate_size"] = s.FeedForward,
            ["num_hidden_layers"] = s.Layers,
            ["num_attention_heads"] = s.Heads,
            ["num_key_value_heads"] = s.KvHeads,
            ["max_position_embeddings"] = 2048,
            ["rms_norm_eps"] = 1e-6,
            ["rope_theta"] = s.RopeTheta,
            ["tie_word_embeddings"] = s.Tied,
            ["vocab_size"] = vocab,
            ["torch_dtype"] = s.DType == "F32" ? "float32" : s.DType == "F16" ? "float16" : "bfloat16",
        };
        if (s.HeadDim is int h) config["head_dim"] = h;
        if (s.RopeScaling == "llama3")
            config["rope_scaling"] = new JsonObject { ["rope_type"] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0, ["original_max_position_embeddings"] = 64 };
        if (s.RopeScaling == "linear")
            config["rope_scaling"] = new JsonObject { ["type"] = "linear", ["factor"] = 4.0 };
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        return new Built(dir, s, weights, config);
    }

    /// <summary>The ids a tokenizer.json defines: one past its highest base or added token id.</summary>
    public static int CountTokens(string tokenizerJson)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(tokenizerJson));
        int max = -1;
        foreach (var p in doc.RootElement.GetProperty("model").GetProperty("vocab").EnumerateObject()) max = Math.Max(max, p.Value.GetInt32());
        foreach (var a in doc.RootElement.GetProperty("added_tokens").EnumerateArray()) max = Math.Max(max, a.GetProperty("id").GetInt32());
        return max + 1;
    }
}

/// <summary>
/// A float64 forward pass over the HF tensors in HF's own layout and conventions (rotate-half rope on unpermuted
/// q/k, llama-3 / linear scaled inverse frequencies as transformers computes them), independent of GGUF.
/// </summary>
public sealed class HfReferenceModel
{
    private readonly HfCheckpoints.Built _b;
    private readonly int _dim, _heads, _kvHeads, _hd, _layers;
    private readonly double _eps;
    private readonly double[] _invFreq;

    public HfReferenceModel(HfCheckpoints.Built b)
    {
        _b = b;
        var s = b.Spec;
        _dim = s.Dim; _heads = s.Heads; _kvHeads = s.KvHeads; _hd = s.HeadDim ?? s.Dim / s.Heads; _layers = s.Layers;
        _eps = 1e-6;
        _invFreq = new double[_hd / 2];
        for (int i = 0; i < _invFreq.Length; i++)
        {
            double f = 1.0 / Math.Pow(s.RopeTheta, 2.0 * i / _hd);
            if (s.RopeScaling == "linear") f /= 4.0;
            if (s.RopeScaling == "llama3")
            {
                double factor = 8, low = 1, high = 4, old = 64;
                double wavelen = 2 * Math.PI / f;
                if (wavelen > old / low) f /= factor;
                else if (wavelen >= old / high)
                {
                    double smooth = (old / wavelen - low) / (high - low);
                    f = (1 - smooth) * f / factor + smooth * f;
                }
            }
            _invFreq[i] = f;
        }
    }

    private float[] W(string name) => _b.Weights[name].Values;
    private float[]? Opt(string name) => _b.Weights.TryGetValue(name, out var w) ? w.Values : null;

    public double[][] Logits(IReadOnlyList<int> tokens)
    {
        var keys = new List<double[]>[_layers];
        var values = new List<double[]>[_layers];
        for (int l = 0; l < _layers; l++) { keys[l] = new(); values[l] = new(); }
        var embed = W("model.embed_tokens.weight");
        var head = Opt("lm_head.weight") ?? embed;
        var result = new double[tokens.Count][];
        for (int pos = 0; pos < tokens.Count; pos++)
        {
            var x = new double[_dim];
            for (int j = 0; j < _dim; j++) x[j] = embed[(long)tokens[pos] * _dim + j];
            for (int l = 0; l < _layers; l++)
            {
                string p = $"model.layers.{l}.";
                var xn = Norm(x, W(p + "input_layernorm.weight"));
                var q = Linear(W(p + "self_attn.q_proj.weight"), xn, Opt(p + "self_attn.q_proj.bias"));
                var k = Linear(W(p + "self_attn.k_proj.weight"), xn, Opt(p + "self_attn.k_proj.bias"));
                var v = Linear(W(p + "self_attn.v_proj.weight"), xn, Opt(p + "self_attn.v_proj.bias"));
                for (int h = 0; h < _heads; h++) Head(q, h, Opt(p + "self_attn.q_norm.weight"), pos);
                for (int h = 0; h < _kvHeads; h++) Head(k, h, Opt(p + "self_attn.k_norm.weight"), pos);
                keys[l].Add(k);
                values[l].Add(v);
                var att = new double[_heads * _hd];
                for (int h = 0; h < _heads; h++)
                {
                    int kvh = h / (_heads / _kvHeads);
                    var sc = new double[pos + 1];
                    for (int t = 0; t <= pos; t++)
                    {
                        double d = 0;
                        for (int j = 0; j < _hd; j++) d += q[h * _hd + j] * keys[l][t][kvh * _hd + j];
                        sc[t] = d / Math.Sqrt(_hd);
                    }
                    double max = sc.Max(), sum = 0;
                    for (int t = 0; t <= pos; t++) { sc[t] = Math.Exp(sc[t] - max); sum += sc[t]; }
                    for (int t = 0; t <= pos; t++)
                        for (int j = 0; j < _hd; j++) att[h * _hd + j] += sc[t] / sum * values[l][t][kvh * _hd + j];
                }
                var o = Linear(W(p + "self_attn.o_proj.weight"), att, null);
                for (int j = 0; j < _dim; j++) x[j] += o[j];
                xn = Norm(x, W(p + "post_attention_layernorm.weight"));
                var g = Linear(W(p + "mlp.gate_proj.weight"), xn, null);
                var u = Linear(W(p + "mlp.up_proj.weight"), xn, null);
                for (int j = 0; j < g.Length; j++) g[j] = g[j] / (1 + Math.Exp(-g[j])) * u[j];
                var d2 = Linear(W(p + "mlp.down_proj.weight"), g, null);
                for (int j = 0; j < _dim; j++) x[j] += d2[j];
            }
            result[pos] = Linear(head, Norm(x, W("model.norm.weight")), null);
        }
        return result;
    }

    /// <summary>transformers' apply_rotary_pos_emb: x·cos + rotate_half(x)·sin, halves of the head paired.</summary>
    private void Head(double[] v, int h, float[]? norm, int pos)
    {
        var x = new double[_hd];
        Array.Copy(v, h * _hd, x, 0, _hd);
        if (norm is not null) x = Norm(x, norm);
        int half = _hd / 2;
        for (int i = 0; i < half; i++)
        {
            double a = pos * _invFreq[i], c = Math.Cos(a), s = Math.Sin(a);
            double x1 = x[i], x2 = x[i + half];
            v[h * _hd + i] = x1 * c - x2 * s;
            v[h * _hd + i + half] = x2 * c + x1 * s;
        }
    }

    private double[] Norm(double[] x, float[] w)
    {
        double ss = 0;
        foreach (var e in x) ss += e * e;
        double scale = 1 / Math.Sqrt(ss / x.Length + _eps);
        var r = new double[x.Length];
        for (int i = 0; i < x.Length; i++) r[i] = x[i] * scale * w[i];
        return r;
    }

    private static double[] Linear(float[] w, double[] x, float[]? bias)
    {
        int rows = w.Length / x.Length, cols = x.Length;
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double s = bias?[r] ?? 0;
            for (int j = 0; j < cols; j++) s += w[(long)r * cols + j] * x[j];
            y[r] = s;
        }
        return y;
    }
}
