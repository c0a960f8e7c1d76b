using System.Runtime.InteropServices;
using Strata.Gguf;
using Strata.Models;
using Strata.Tensors;

namespace Strata.Tests.Support;

/// <summary>The shape of a synthetic model a test writes with Strata's GGUF writer.</summary>
public sealed record ModelSpec(
    string Arch = "llama",
    int Dim = 64,
    int Layers = 2,
    int Heads = 4,
    int KvHeads = 2,
    int FeedForward = 96,
    int Vocab = 300,
    int? HeadDim = null,
    bool Tied = false,
    GgmlType Type = GgmlType.F32,
    float RopeBase = 10000f,
    bool RopeFactors = false,
    int Seed = 1,
    int Context = 512,
    PoolingType Pooling = PoolingType.None)
{
    public override string ToString() =>
        $"{Arch} d{Dim} L{Layers} h{Heads}/{KvHeads}{(HeadDim is int hd ? $" hd{hd}" : "")} ff{FeedForward} v{Vocab} {Type}{(Tied ? " tied" : "")}{(RopeFactors ? " ropefreqs" : "")}{(Pooling != PoolingType.None ? $" pool-{Pooling}" : "")}";
}

/// <summary>
/// Writes small random-weight GGUF models that both Strata and llama.cpp load: a SentencePiece-style vocabulary
/// (unk, bos, eos, 256 byte tokens, then filler pieces) and weights scaled so activations stay near unit size and
/// logits are spread enough for a stable greedy choice.
/// </summary>
public static class TestModels
{
    /// <summary>n seeded token ids past the special ones (0–2): a prompt for the cache and engine tests.</summary>
    public static int[] RandomTokens(int vocab, int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => rng.Next(3, vocab)).ToArray();
    }

    /// <param name="vocabulary">Writes the tokenizer keys instead of the synthetic SentencePiece vocabulary (it must
    /// have <see cref="ModelSpec.Vocab"/> tokens): a random model over a real vocabulary.</param>
    public static string Write(ModelSpec s, string dir, Action<GgufWriter>? vocabulary = null)
    {
        var rng = new Random(s.Seed);
        int hd = s.HeadDim ?? s.Dim / s.Heads;
        int qDim = s.Heads * hd, kvDim = s.KvHeads * hd;
        var w = new GgufWriter();
        string a = s.Arch;
        w.Add("general.architecture", a);
        w.Add("general.name", "strata-test " + s);
        w.Add($"{a}.context_length", (uint)s.Context);
        w.Add($"{a}.embedding_length", (uint)s.Dim);
        w.Add($"{a}.block_count", (uint)s.Layers);
        w.Add($"{a}.feed_forward_length", (uint)s.FeedForward);
        w.Add($"{a}.attention.head_count", (uint)s.Heads);
        w.Add($"{a}.attention.head_count_kv", (uint)s.KvHeads);
        if (s.HeadDim is not null)
        {
            w.Add($"{a}.attention.key_length", (uint)hd);
            w.Add($"{a}.attention.value_length", (uint)hd);
        }
        w.Add($"{a}.attention.layer_norm_rms_epsilon", 1e-5f);
        w.Add($"{a}.rope.freq_base", s.RopeBase);
        w.Add($"{a}.rope.dimension_count", (uint)hd);
        w.Add("general.file_type", 0u);
        // An embedding model (llama.cpp reads the pooling type from here); with Tied it has no output head at all.
        if (s.Pooling != PoolingType.None) w.Add($"{a}.pooling_type", (uint)s.Pooling);
        if (vocabulary is null) AddSpmVocab(w, s.Vocab, rng);
        else vocabulary(w);

        void Matrix(string name, int cols, int rows, double scale, GgmlType type)
        {
            var values = new float[rows * cols];
            for (int i = 0; i < values.Length; i++) values[i] = (float)(Gaussian(rng) * scale);
            w.AddTensor(name, type, new long[] { cols, rows }, Encode(values, cols, type));
        }
        void Vector(string name, int n, double center, double spread)
        {
            var values = new float[n];
            for (int i = 0; i < n; i++) values[i] = (float)(center + Gaussian(rng) * spread);
            w.AddTensor(name, GgmlType.F32, new long[] { n }, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        }

        // K-quants need rows that are multiples of 256; smaller tensors fall back the way llama.cpp's quantizer does.
        GgmlType TypeFor(int cols) => cols % GgmlTypeInfo.BlockSize(s.Type) == 0 ? s.Type : cols % 32 == 0 ? GgmlType.Q8_0 : GgmlType.F32;

        Matrix(TensorNames.TokenEmbedding, s.Dim, s.Vocab, 1.0, TypeFor(s.Dim));
        for (int l = 0; l < s.Layers; l++)
        {
            Vector(TensorNames.AttnNorm(l), s.Dim, 1.0, 0.1);
            Matrix(TensorNames.AttnQ(l), s.Dim, qDim, 1 / Math.Sqrt(s.Dim), TypeFor(s.Dim));
            Matrix(TensorNames.AttnK(l), s.Dim, kvDim, 1 / Math.Sqrt(s.Dim), TypeFor(s.Dim));
            Matrix(TensorNames.AttnV(l), s.Dim, kvDim, 1 / Math.Sqrt(s.Dim), TypeFor(s.Dim));
            Matrix(TensorNames.AttnOutput(l), qDim, s.Dim, 1 / Math.Sqrt(qDim), TypeFor(qDim));
            if (a == "qwen2")
            {
                Vector(TensorNames.AttnQBias(l), qDim, 0, 0.3);
                Vector(TensorNames.AttnKBias(l), kvDim, 0, 0.3);
                Vector(TensorNames.AttnVBias(l), kvDim, 0, 0.3);
            }
            if (a == "qwen3")
            {
                Vector(TensorNames.AttnQNorm(l), hd, 1.0, 0.1);
                Vector(TensorNames.AttnKNorm(l), hd, 1.0, 0.1);
            }
            Vector(TensorNames.FfnNorm(l), s.Dim, 1.0, 0.1);
            Matrix(TensorNames.FfnGate(l), s.Dim, s.FeedForward, 1 / Math.Sqrt(s.Dim), TypeFor(s.Dim));
            Matrix(TensorNames.FfnUp(l), s.Dim, s.FeedForward, 1 / Math.Sqrt(s.Dim), TypeFor(s.Dim));
            Matrix(TensorNames.FfnDown(l), s.FeedForward, s.Dim, 1 / Math.Sqrt(s.FeedForward), TypeFor(s.FeedForward));
        }
        Vector(TensorNames.OutputNorm, s.Dim, 1.0, 0.1);
        if (!s.Tied) Matrix(TensorNames.Output, s.Dim, s.Vocab, 4 / Math.Sqrt(s.Dim), TypeFor(s.Dim));
        if (s.RopeFactors)
        {
            var f = new float[hd / 2];
            for (int j = 0; j < f.Length; j++) f[j] = 1f + j * 8f / f.Length;
            w.AddTensor(TensorNames.RopeFrequencies, GgmlType.F32, new long[] { f.Length }, MemoryMarshal.AsBytes(f.AsSpan()).ToArray());
        }

        string path = Path.Combine(dir, $"{a}-{s.Dim}-{s.Layers}-{s.Heads}-{s.KvHeads}-{s.Vocab}-{s.Type}-{(s.Tied ? "t" : "u")}-{s.Seed}{(s.Pooling != PoolingType.None ? "-" + s.Pooling : "")}.gguf");
        w.Write(path);
        return path;
    }

    /// <summary>Rows of floats in the given type, through Strata's reference quantizer.</summary>
    public static byte[] Encode(float[] values, int cols, GgmlType type)
    {
        int rows = values.Length / cols;
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        var bytes = new byte[rows * rowBytes];
        for (int r = 0; r < rows; r++)
            Quantize.Row(type, values.AsSpan(r * cols, cols), bytes.AsSpan((int)(r * rowBytes), (int)rowBytes));
        return bytes;
    }

    /// <summary>A llama (SentencePiece) vocabulary: &lt;unk&gt; &lt;s&gt; &lt;/s&gt;, 256 byte tokens, then random pieces.</summary>
    public static void AddSpmVocab(GgufWriter w, int vocab, Random rng)
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        var types = new List<int> { 2, 3, 3 };
        for (int b = 0; b < 256; b++) { tokens.Add($"<0x{b:X2}>"); types.Add(6); }
        var seen = new HashSet<string>(tokens);
        const string letters = "abcdefghijklmnopqrstuvwxyz";
        while (tokens.Count < vocab)
        {
            int len = 1 + rng.Next(6);
            var piece = (rng.Next(2) == 0 ? "\u2581" : "") + new string(Enumerable.Range(0, len).Select(_ => letters[rng.Next(letters.Length)]).ToArray());
            if (seen.Add(piece)) { tokens.Add(piece); types.Add(1); }
        }
        var scores = new float[tokens.Count];
        for (int i = 0; i < scores.Length; i++) scores[i] = i < 259 ? 0f : -(i - 259) * 0.01f - tokens[i].Length;
        w.Add("tokenizer.ggml.model", "llama");
        w.Add("tokenizer.ggml.tokens", tokens.ToArray());
        w.Add("tokenizer.ggml.scores", scores);
        w.Add("tokenizer.ggml.token_type", types.ToArray());
        w.Add("tokenizer.ggml.bos_token_id", 1u);
        w.Add("tokenizer.ggml.eos_token_id", 2u);
        w.Add("tokenizer.ggml.unknown_token_id", 0u);
        w.Add("tokenizer.ggml.add_bos_token", true);
    }

    public static double Gaussian(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
