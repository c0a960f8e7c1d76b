using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using Strata.Gguf;
using Strata.Models;
using Strata.Tensors;

namespace Strata.Conversion;

/// <summary>What <see cref="HfModelConverter.Convert"/> wrote. <paramref name="DroppedTokens"/>: added tokens left out
/// because the embedding has no rows for them (<see cref="HfTokenizer.DroppedTokens"/>).</summary>
public sealed record ConversionResult(string Architecture, int Tensors, long Bytes, string TokenizerModel, string TokenizerPre, IReadOnlyList<string> DroppedTokens);

/// <summary>
/// Converts a Hugging Face checkpoint (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM) to
/// GGUF the way llama.cpp's convert_hf_to_gguf.py does: the same hyper-parameter keys, tensor names and types
/// (1-D tensors, norms and biases F32, matrices in the chosen type), the Q/K row permutation of the llama layout,
/// llama-3 rope factors as <c>rope_freqs.weight</c>, tied embeddings left to <c>token_embd.weight</c>, and the
/// tokenizer metadata of <see cref="HfTokenizer"/>. Tensors are streamed from the mapped safetensors to the output.
/// </summary>
public static partial class HfModelConverter
{
    public static readonly IReadOnlyDictionary<string, string> Architectures = new Dictionary<string, string>
    {
        ["LlamaForCausalLM"] = "llama",
        ["MistralForCausalLM"] = "llama",
        ["Qwen2ForCausalLM"] = "qwen2",
        ["Qwen3ForCausalLM"] = "qwen3",
    };

    /// <summary>Output types of <c>--type</c> and their llama_ftype numbers (general.file_type).</summary>
    public static readonly IReadOnlyDictionary<string, (GgmlType Type, uint FileType)> OutTypes = new Dictionary<string, (GgmlType, uint)>(StringComparer.OrdinalIgnoreCase)
    {
        ["f32"] = (GgmlType.F32, 0),
        ["f16"] = (GgmlType.F16, 1),
        ["bf16"] = (GgmlType.BF16, 32),
        ["q8_0"] = (GgmlType.Q8_0, 7),
    };

    private sealed record Planned(string GgufName, string? HfName, GgmlType Type, long[] GgufShape, int[]? RowOrder, float[]? Values);

    /// <param name="progress">Called with (elements done, elements total) as tensors are written.</param>
    public static ConversionResult Convert(string modelDir, string outputPath, string outType = "f16", Action<long, long>? progress = null, int threads = 0)
    {
        if (!OutTypes.TryGetValue(outType, out var ot))
            throw new StrataException($"output type '{outType}' is not supported (supported: {string.Join(", ", OutTypes.Keys)})");
        using var cp = HfCheckpoint.Open(modelDir);
        var cfg = new ConfigReader(cp.Config, Path.Combine(modelDir, "config.json"));

        string hfArch = cfg.Architecture();
        if (!Architectures.TryGetValue(hfArch, out var arch))
            throw new StrataException($"architecture '{hfArch}' is not supported (supported: {string.Join(", ", Architectures.Keys)})");
        bool llamaLayout = arch == "llama";

        int dim = cfg.Int("hidden_size");
        int layers = cfg.Int("num_hidden_layers");
        int ff = cfg.Int("intermediate_size");
        int heads = cfg.Int("num_attention_heads");
        int kvHeads = cfg.OptInt("num_key_value_heads") ?? heads;
        int? explicitHeadDim = cfg.OptInt("head_dim");
        if (explicitHeadDim is null && dim % heads != 0) throw cfg.Bad($"hidden_size {dim} is not divisible by num_attention_heads {heads}");
        int headDim = explicitHeadDim ?? dim / heads;
        if (heads % kvHeads != 0) throw cfg.Bad($"num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}");
        if (headDim % 2 != 0) throw cfg.Bad($"head size {headDim} is odd");
        float eps = cfg.Float("rms_norm_eps");
        float? ropeTheta = cfg.OptFloat("rope_theta");
        int? context = cfg.OptInt("max_position_embeddings");
        int? vocabSize = cfg.OptInt("vocab_size");
        bool tieConfig = cfg.OptBool("tie_word_embeddings") ?? false;

        // The embedding's rows are the vocabulary: the tokenizer is padded to them as the convert script pads it to
        // vocab_size, which must agree (transformers refuses a checkpoint whose tensors do not match its config).
        var (embedFile, embed) = cp.Find("model.embed_tokens.weight") ?? throw new StrataException($"{modelDir}: required tensor 'model.embed_tokens.weight' is missing");
        if (embed.Shape.Length != 2 || embed.Shape[1] != dim)
            throw new StrataException($"tensor 'model.embed_tokens.weight' has shape {embed.ShapeText}, expected [vocab, {dim}]");
        int vocab = checked((int)embed.Shape[0]);
        string embedWhere = $"model.embed_tokens.weight in {Path.GetFileName(embedFile.Path)}";
        if (vocabSize is int vs && vs != vocab)
            throw cfg.Bad($"vocab_size is {vs} but {embedWhere} has {vocab} rows");

        // The tokenizer.
        string tokJson = Path.Combine(modelDir, "tokenizer.json");
        if (!File.Exists(tokJson)) throw new StrataException($"{modelDir}: no tokenizer.json (only Hugging Face fast tokenizers can be converted)");
        var tok = HfTokenizer.Load(tokJson, Path.Combine(modelDir, "tokenizer_config.json"), vocab, vocabSizeSource: embedWhere);

        // The tensors, checked against the hyper-parameters, in output order.
        int qDim = heads * headDim, kvDim = kvHeads * headDim;
        var plan = new List<Planned>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        GgmlType MatrixType(long cols) => ot.Type == GgmlType.Q8_0 && cols % 32 != 0 ? GgmlType.F16 : ot.Type;

        void Add(string gguf, string hf, bool required, long[] hfShape, int[]? order = null)
        {
            var found = cp.Find(hf);
            if (found is null)
            {
                if (required) throw new StrataException($"{modelDir}: required tensor '{hf}' is missing");
                return;
            }
            var t = found.Value.Tensor;
            if (!t.Shape.SequenceEqual(hfShape))
                throw new StrataException($"tensor '{hf}' has shape {t.ShapeText}, but config.json implies [{string.Join(", ", hfShape)}]");
            if (t.DType is not (SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16))
                throw new StrataException($"tensor '{hf}' has dtype {t.DType}; only F32, F16 and BF16 checkpoints can be converted");
            used.Add(hf);
            bool matrix = hfShape.Length >= 2 && gguf.EndsWith(".weight", StringComparison.Ordinal) && !gguf.EndsWith("_norm.weight", StringComparison.Ordinal);
            var shape = hfShape.Reverse().ToArray();
            plan.Add(new Planned(gguf, hf, matrix ? MatrixType(shape[0]) : GgmlType.F32, shape, order, null));
        }

        Add(TensorNames.TokenEmbedding, "model.embed_tokens.weight", true, [vocab, dim]);
        var ropeFactors = Llama3RopeFactors(cfg, ropeTheta ?? 10000f, headDim, out var linearFactor);
        if (ropeFactors is not null) plan.Add(new Planned(TensorNames.RopeFrequencies, null, GgmlType.F32, [ropeFactors.Length], null, ropeFactors));
        int[]? qOrder = llamaLayout ? LlamaPermutation(heads, headDim) : null;
        int[]? kOrder = llamaLayout ? LlamaPermutation(kvHeads, headDim) : null;
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}.";
            Add(TensorNames.AttnNorm(l), p + "input_layernorm.weight", true, [dim]);
            Add(TensorNames.AttnQ(l), p + "self_attn.q_proj.weight", true, [qDim, dim], qOrder);
            Add(TensorNames.AttnK(l), p + "self_attn.k_proj.weight", true, [kvDim, dim], kOrder);
            Add(TensorNames.AttnV(l), p + "self_attn.v_proj.weight", true, [kvDim, dim]);
            Add(TensorNames.AttnOutput(l), p + "self_attn.o_proj.weight", true, [dim, qDim]);
            if (arch == "qwen2")
            {
                Add(TensorNames.AttnQBias(l), p + "self_attn.q_proj.bias", true, [qDim]);
                Add(TensorNames.AttnKBias(l), p + "self_attn.k_proj.bias", true, [kvDim]);
                Add(TensorNames.AttnVBias(l), p + "self_attn.v_proj.bias", true, [kvDim]);
            }
            if (arch == "qwen3")
            {
                Add(TensorNames.AttnQNorm(l), p + "self_attn.q_norm.weight", true, [headDim]);
                Add(TensorNames.AttnKNorm(l), p + "self_attn.k_norm.weight", true, [headDim]);
            }
            Add(TensorNames.FfnNorm(l), p + "post_attention_layernorm.weight", true, [dim]);
            Add(TensorNames.FfnGate(l), p + "mlp.gate_proj.weight", true, [ff, dim]);
            Add(TensorNames.FfnUp(l), p + "mlp.up_proj.weight", true, [ff, dim]);
            Add(TensorNames.FfnDown(l), p + "mlp.down_proj.weight", true, [dim, ff]);
        }
        Add(TensorNames.OutputNorm, "model.norm.weight", true, [dim]);
        bool tied = tieConfig || !cp.Contains("lm_head.weight");
        if (!tied) Add(TensorNames.Output, "lm_head.weight", true, [vocab, dim]);
        else if (cp.Contains("lm_head.weight")) used.Add("lm_head.weight"); // tied: llama.cpp reads token_embd

        foreach (var name in cp.TensorNames)
        {
            if (used.Contains(name) || name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)) continue;
            var m = LayerTensor().Match(name);
            if (m.Success && int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) >= layers)
                throw new StrataException($"tensor '{name}' belongs to layer {m.Groups[1].Value}, but config.json has {layers} layers");
            throw new StrataException($"tensor '{name}' is not part of a {hfArch} model as Strata converts it");
        }

        // Metadata, in the order and with the keys convert_hf_to_gguf.py writes.
        var w = new GgufWriter();
        string K(string key) => HParamKeys.For(key, arch);
        w.Add(HParamKeys.Architecture, arch);
        w.Add("general.type", "model");
        w.Add("general.name", ModelName(modelDir));
        w.Add(K(HParamKeys.BlockCount), (uint)layers);
        if (context is int ctx) w.Add(K(HParamKeys.ContextLength), (uint)ctx);
        w.Add(K(HParamKeys.EmbeddingLength), (uint)dim);
        w.Add(K(HParamKeys.FeedForwardLength), (uint)ff);
        w.Add(K(HParamKeys.HeadCount), (uint)heads);
        w.Add(K(HParamKeys.HeadCountKv), (uint)kvHeads);
        if (ropeTheta is float theta) w.Add(K(HParamKeys.RopeFreqBase), theta);
        w.Add(K(HParamKeys.RmsEpsilon), eps);
        if (explicitHeadDim is int hd)
        {
            w.Add(K(HParamKeys.KeyLength), (uint)hd);
            w.Add(K(HParamKeys.ValueLength), (uint)hd);
        }
        w.Add("general.file_type", ot.FileType);
        if (llamaLayout)
        {
            w.Add(K(HParamKeys.VocabSize), (uint)vocab);
            w.Add(K(HParamKeys.RopeDimensionCount), (uint)headDim);
        }
        if (linearFactor is float lf)
        {
            w.Add(K(HParamKeys.RopeScalingType), "linear");
            w.Add(K(HParamKeys.RopeScalingFactor), lf);
        }
        w.Add("general.quantization_version", 2u);
        tok.WriteTo(w);

        // Tensor data, streamed.
        long total = plan.Sum(p => p.GgufShape.Aggregate(1L, (a, b) => a * b)), done = 0;
        int nThreads = threads > 0 ? threads : Environment.ProcessorCount;
        progress?.Invoke(0, total);
        foreach (var p in plan)
        {
            if (p.Values is not null)
            {
                w.AddTensor(p.GgufName, p.Type, p.GgufShape, MemoryMarshal.AsBytes(p.Values.AsSpan()).ToArray());
                continue;
            }
            var (file, t) = cp.Find(p.HfName!)!.Value;
            w.AddTensor(p.GgufName, p.Type, p.GgufShape, s =>
            {
                WriteRows(file, t, p.Type, p.RowOrder, s, nThreads, rows => { done += rows * t.Cols; progress?.Invoke(done, total); });
            });
        }
        w.Write(outputPath);
        progress?.Invoke(total, total);
        return new ConversionResult(arch, plan.Count, new FileInfo(outputPath).Length, tok.Model, tok.Pre, tok.DroppedTokens);
    }

    /// <summary>Converts the rows of one tensor (in <paramref name="order"/>, when given) in parallel chunks and writes them.</summary>
    private static void WriteRows(SafetensorsFile file, SafetensorsTensor t, GgmlType type, int[]? order, Stream s, int threads, Action<long> advanced)
    {
        int cols = checked((int)t.Cols);
        long rows = t.Rows;
        int rowBytes = checked((int)GgmlTypeInfo.RowBytes(type, cols));
        int chunkRows = (int)Math.Clamp((8L << 20) / Math.Max(1, cols * 4L), 1, rows);
        var buffer = new byte[(long)chunkRows * rowBytes];
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
        for (long start = 0; start < rows; start += chunkRows)
        {
            int n = (int)Math.Min(chunkRows, rows - start);
            Parallel.For(0, n, options, () => new float[cols], (i, _, row) =>
            {
                long dst = start + i;
                long src = order is null ? dst : order[dst];
                file.ReadRow(t, src, row);
                Quantize.Row(type, row, buffer.AsSpan(i * rowBytes, rowBytes));
                return row;
            }, _ => { });
            s.Write(buffer, 0, n * rowBytes);
            advanced(n);
        }
    }

    /// <summary>
    /// The row order that turns HF's rotate-half Q/K layout into llama.cpp's interleaved one: within each head, output row
    /// 2i+h comes from input row h·(d/2)+i (convert_hf_to_gguf.py's permute).
    /// </summary>
    public static int[] LlamaPermutation(int heads, int headDim)
    {
        var order = new int[heads * headDim];
        int half = headDim / 2;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
                for (int part = 0; part < 2; part++)
                    order[h * headDim + 2 * i + part] = h * headDim + part * half + i;
        return order;
    }

    /// <summary>llama-3 rope scaling becomes per-frequency divisors; linear scaling a factor; others are refused.</summary>
    private static float[]? Llama3RopeFactors(ConfigReader cfg, float theta, int headDim, out float? linearFactor)
    {
        linearFactor = null;
        if (!cfg.Root.TryGetProperty("rope_scaling", out var rs) || rs.ValueKind == JsonValueKind.Null) return null;
        if (rs.ValueKind != JsonValueKind.Object) throw cfg.Bad("rope_scaling is not an object");
        string? type = rs.TryGetProperty("rope_type", out var rt) && rt.ValueKind == JsonValueKind.String ? rt.GetString()
            : rs.TryGetProperty("type", out var tt) && tt.ValueKind == JsonValueKind.String ? tt.GetString() : null;
        double Get(string key, double fallback) => rs.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : fallback;
        switch (type)
        {
            case null or "default":
                return null;
            case "linear":
                linearFactor = (float)Get("factor", 1);
                return null;
            case "llama3":
            {
                double factor = Get("factor", 8), low = Get("low_freq_factor", 1), high = Get("high_freq_factor", 4);
                double oldContext = Get("original_max_position_embeddings", cfg.OptInt("original_max_position_embeddings") ?? 8192);
                double lowWavelen = oldContext / low, highWavelen = oldContext / high;
                var factors = new float[headDim / 2];
                for (int i = 0; i < factors.Length; i++)
                {
                    // torch computes the frequencies in float32.
                    float freq = 1f / MathF.Pow(theta, 2f * i / headDim);
                    double wavelen = 2 * Math.PI / freq;
                    if (wavelen < highWavelen) factors[i] = 1;
                    else if (wavelen > lowWavelen) factors[i] = (float)factor;
                    else
                    {
                        double smooth = (oldContext / wavelen - low) / (high - low);
                        factors[i] = (float)(1 / ((1 - smooth) / factor + smooth));
                    }
                }
                return factors;
            }
            default:
                throw cfg.Bad($"rope scaling type '{type}' is not supported (supported: linear, llama3)");
        }
    }

    private static string ModelName(string dir)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)));
        return string.IsNullOrEmpty(name) ? "model" : name;
    }

    [GeneratedRegex(@"^model\.layers\.(\d+)\.")]
    private static partial Regex LayerTensor();

    /// <summary>Typed access to config.json with errors that name the key.</summary>
    private sealed class ConfigReader(JsonElement root, string path)
    {
        public JsonElement Root => root;

        public StrataException Bad(string what) => new($"{path}: {what}");

        public string Architecture()
        {
            if (root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array && a.GetArrayLength() > 0 && a[0].ValueKind == JsonValueKind.String)
                return a[0].GetString()!;
            throw Bad("no \"architectures\" list");
        }

        public int Int(string key) => OptInt(key) ?? throw Bad($"required key \"{key}\" is missing");

        public int? OptInt(string key)
        {
            if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) && i > 0) return i;
            throw Bad($"\"{key}\" must be a positive integer, found {v.GetRawText()}");
        }

        public float Float(string key) => OptFloat(key) ?? throw Bad($"required key \"{key}\" is missing");

        public float? OptFloat(string key)
        {
            if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind == JsonValueKind.Number && double.IsFinite(v.GetDouble()) && v.GetDouble() > 0) return (float)v.GetDouble();
            throw Bad($"\"{key}\" must be a positive number, found {v.GetRawText()}");
        }

        public bool? OptBool(string key) =>
            !root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
            : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
            : throw Bad($"\"{key}\" must be true or false, found {v.GetRawText()}");
    }
}
