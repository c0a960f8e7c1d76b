using System.Runtime.InteropServices;
using Strata.Gguf;
using Strata.Models;
using Strata.Tensors;

namespace Strata.Tests.Support;

/// <summary>
/// A hand-built model whose greedy output is a chosen script, so that tool loops can be tested end to end through
/// the real tokenizer, template, engine and server. It is a bigram table with one attention head on top:
/// <list type="bullet">
/// <item>every script piece is one token of its own, embedded as a one-hot vector; the output matrix maps each piece
/// to the next one (the last to end-of-generation), so a script plays out token by token;</item>
/// <item>the prompt's last token (the "\n" of the assistant header) starts <see cref="FirstScript"/>, unless the
/// prompt contains the <see cref="Trigger"/> token (e.g. &lt;tool_response&gt;): one attention head, whose query at
/// that position only matches the trigger's key, copies a feature that makes <see cref="SecondScript"/> start
/// instead.</item>
/// </list>
/// Feed-forward blocks are zero and rope is made negligible (a huge base, the query/key in the slowest dimension
/// pair), so nothing else moves the logits; the margins are large enough that sampling at any temperature the
/// tests use picks the scripted token.
/// </summary>
public sealed record ScriptModel(string Template, string[] FirstScript, string[] SecondScript, string Trigger)
{
    private const int Dim = 64, Heads = 2, HeadDim = Dim / Heads, Vocab = 512;
    private const int FeatureDim = Dim - 1, QkDim = HeadDim - 2;

    /// <summary>Special tokens of the vocabulary: (text, GGUF token type) — 3 control, 4 user-defined.</summary>
    public static readonly (string Text, int Type)[] Specials =
    [
        ("<|im_start|>", 3), ("<|im_end|>", 3), ("<tool_call>", 4), ("</tool_call>", 4), ("<tool_response>", 4), ("</tool_response>", 4),
        ("<think>", 4), ("</think>", 4),
    ];

    public string Write(string dir)
    {
        // Vocabulary: <unk> <s> </s>, 256 byte tokens, the specials, the script pieces, filler.
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        var types = new List<int> { 2, 3, 3 };
        for (int b = 0; b < 256; b++) { tokens.Add($"<0x{b:X2}>"); types.Add(6); }
        foreach (var (text, type) in Specials) { tokens.Add(text); types.Add(type); }
        int Id(string piece)
        {
            int i = tokens.IndexOf(piece);
            if (i >= 0) return i;
            tokens.Add(piece);
            types.Add(1);
            return tokens.Count - 1;
        }
        // Pieces are written with SentencePiece's "▁" for spaces.
        static string Piece(string s) => s.Replace(' ', '\u2581');
        int newline = 3 + '\n';
        int[] first = FirstScript.Select(p => Specials.Any(x => x.Text == p) ? tokens.IndexOf(p) : Id(Piece(p))).ToArray();
        int[] second = SecondScript.Select(p => Specials.Any(x => x.Text == p) ? tokens.IndexOf(p) : Id(Piece(p))).ToArray();
        if (first.Concat(second).Distinct().Count() != first.Length + second.Length)
            throw new ArgumentException("every script piece must be a different token (each has one successor)");
        int trigger = tokens.IndexOf(Trigger);
        if (trigger < 0) throw new ArgumentException($"the trigger {Trigger} is not a special token");
        for (int i = 0; tokens.Count < Vocab; i++) { tokens.Add($"[filler{i}]"); types.Add(1); }
        int imEnd = tokens.IndexOf("<|im_end|>");

        // One-hot directions: the header's newline, the trigger and every script token.
        var dims = new Dictionary<int, int>();
        foreach (int t in new[] { newline, trigger }.Concat(first).Concat(second)) dims[t] = dims.Count;
        if (dims.Count > FeatureDim) throw new ArgumentException("script too long for the model's width");

        var w = new GgufWriter();
        const string a = "llama";
        w.Add("general.architecture", a);
        w.Add("general.name", "strata-script");
        w.Add($"{a}.context_length", 4096u);
        w.Add($"{a}.embedding_length", (uint)Dim);
        w.Add($"{a}.block_count", 1u);
        w.Add($"{a}.feed_forward_length", (uint)Dim);
        w.Add($"{a}.attention.head_count", (uint)Heads);
        w.Add($"{a}.attention.head_count_kv", (uint)Heads);
        w.Add($"{a}.attention.layer_norm_rms_epsilon", 1e-6f);
        w.Add($"{a}.rope.freq_base", 1e8f);
        w.Add($"{a}.rope.dimension_count", (uint)HeadDim);
        w.Add("general.file_type", 0u);
        var scores = tokens.Select((t, i) => i < 259 ? 0f : -t.Length).ToArray();
        w.Add("tokenizer.ggml.model", "llama");
        w.Add("tokenizer.ggml.tokens", tokens.ToArray());
        w.Add("tokenizer.ggml.scores", scores);
        w.Add("tokenizer.ggml.token_type", types.ToArray());
        w.Add("tokenizer.ggml.bos_token_id", 1u);
        w.Add("tokenizer.ggml.eos_token_id", (uint)imEnd);
        w.Add("tokenizer.ggml.unknown_token_id", 0u);
        w.Add("tokenizer.ggml.add_bos_token", true);
        w.Add("tokenizer.chat_template", Template);

        void Tensor(string name, int cols, int rows, Action<float[]> fill)
        {
            var values = new float[rows * cols];
            fill(values);
            w.AddTensor(name, GgmlType.F32, new long[] { cols, rows }, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        }
        void Ones(string name, int n)
        {
            var values = new float[n];
            Array.Fill(values, 1f);
            w.AddTensor(name, GgmlType.F32, new long[] { n }, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        }

        // After RMSNorm a one-hot embedding reads sqrt(Dim) = 8 in its dimension.
        Tensor(TensorNames.TokenEmbedding, Dim, Vocab, v => { foreach (var (t, d) in dims) v[t * Dim + d] = 1; });
        Ones(TensorNames.AttnNorm(0), Dim);
        // Query (head 0) from the header newline, key (kv head 0) from the trigger: q·k·scale = 8·2 · 8·2 / sqrt(32) ≈ 45.
        Tensor(TensorNames.AttnQ(0), Dim, Dim, v => v[QkDim * Dim + dims[newline]] = 2);
        Tensor(TensorNames.AttnK(0), Dim, Dim, v => v[QkDim * Dim + dims[trigger]] = 2);
        // The trigger's value (head 0, dimension 0) is 1; the output projection writes 4× it into the feature dimension.
        Tensor(TensorNames.AttnV(0), Dim, Dim, v => v[0 * Dim + dims[trigger]] = 1f / 8);
        Tensor(TensorNames.AttnOutput(0), Dim, Dim, v => v[FeatureDim * Dim + 0] = 4);
        Ones(TensorNames.FfnNorm(0), Dim);
        Tensor(TensorNames.FfnGate(0), Dim, Dim, _ => { });
        Tensor(TensorNames.FfnUp(0), Dim, Dim, _ => { });
        Tensor(TensorNames.FfnDown(0), Dim, Dim, _ => { });
        Ones(TensorNames.OutputNorm, Dim);
        const float margin = 10;
        Tensor(TensorNames.Output, Dim, Vocab, v =>
        {
            void Next(int from, int to) => v[to * Dim + dims[from]] = margin;
            Next(newline, first[0]);
            v[second[0] * Dim + FeatureDim] = margin;
            foreach (var script in new[] { first, second })
            {
                for (int i = 0; i + 1 < script.Length; i++) Next(script[i], script[i + 1]);
                Next(script[^1], imEnd);
            }
        });
        string path = Path.Combine(dir, "script.gguf");
        w.Write(path);
        return path;
    }
}
