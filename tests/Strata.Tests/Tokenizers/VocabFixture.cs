using System.Diagnostics;
using System.Text;
using LLama;
using LLama.Common;
using LLama.Native;
using Strata.Conversion;
using Strata.Gguf;
using Strata.Tokenizers;

namespace Strata.Tests.Tokenizers;

/// <summary>
/// Fetches the real vocabularies once per test run (tests/fetch-tokenizers.sh), converts them with
/// <see cref="HfTokenizer"/> into vocab-only GGUF files and loads each both in llama.cpp (LLamaSharp) and in Strata.
/// Each variant is written twice: with the keys llama.cpp's converter writes (<see cref="Loaded.Strata"/>, which must
/// tokenize exactly as llama.cpp does on it) and as <c>strata convert</c> writes it, with Strata's extension keys
/// (<see cref="Loaded.Converted"/>, which must tokenize exactly as Hugging Face does; llama.cpp ignores those keys).
/// </summary>
public sealed class VocabFixture : IDisposable
{
    public static readonly string RepoRoot = FindRepoRoot();
    public static string CacheDir => Environment.GetEnvironmentVariable("STRATA_TOKENIZER_CACHE")
        ?? Path.Combine(RepoRoot, "tests", "Strata.Tests", ".data", "tokenizers");

    /// <summary>The real vocabularies, and variants that swap the pre-tokenizer to exercise the other splitters.</summary>
    public static readonly (string Name, string Source, string? Pre, Action<HfTokenizer, GgufWriter>? Tweak)[] Variants =
    [
        ("llama2", "llama2", null, null),
        ("llama3", "llama3", null, null),
        ("qwen3", "qwen3", null, null),
        // The other pre-tokenizers, run with a real byte-level vocabulary.
        ("llama3-as-gpt2", "llama3", "gpt-2", null),
        ("llama3-as-default", "llama3", "default", null),
        ("llama3-as-smollm", "llama3", "smollm", null),
        ("qwen3-as-llama3", "qwen3", "llama-bpe", null),
        // Strata scores the HF-converted Llama 2 vocabulary -id; these exercise other score patterns (llama.cpp's converter writes -1000 flat):
        // flat scores (what llama.cpp's converter writes), heavy ties, and no space prefix.
        ("llama2-flat", "llama2", null, (hf, w) => w.Add("tokenizer.ggml.scores", Enumerable.Repeat(-1000f, hf.Tokens.Length).ToArray())),
        ("llama2-ties", "llama2", null, (hf, w) => w.Add("tokenizer.ggml.scores", Enumerable.Range(0, hf.Tokens.Length).Select(i => -(float)(i % 3)).ToArray())),
        ("llama2-noprefix", "llama2", null, (hf, w) => w.Add("tokenizer.ggml.add_space_prefix", false)),
        // Phi-3 by name: llama.cpp right-strips whitespace after special tokens (except <unk>, <s>, <|endoftext|>).
        ("llama2-phi3", "llama2", null, (hf, w) =>
        {
            w.Add("general.name", "Phi-3 mini test");
            var tokens = (string[])hf.Tokens.Clone();
            var types = (int[])hf.TokenTypes.Clone();
            (tokens[31999], types[31999]) = ("<|endoftext|>", (int)TokenType.Control);
            (tokens[31998], types[31998]) = ("<|user|>", (int)TokenType.Control);
            (tokens[31997], types[31997]) = ("<|assistant|>", (int)TokenType.UserDefined);
            w.Add("tokenizer.ggml.tokens", tokens);
            w.Add("tokenizer.ggml.token_type", types);
        }),
        // BOS and EOS both added, on a BPE vocabulary.
        ("qwen3-bos-eos", "qwen3", null, (hf, w) => { w.Add("tokenizer.ggml.add_bos_token", true); w.Add("tokenizer.ggml.add_eos_token", true); w.Add("tokenizer.ggml.bos_token_id", 151644u); }),
    ];

    private readonly string _dir = Directory.CreateTempSubdirectory("strata-tok-").FullName;
    private readonly Dictionary<string, Loaded> _loaded = new();
    private readonly object _lock = new();

    public sealed record Loaded(string Name, string Path, LLamaWeights Llama, Tokenizer Strata, Tokenizer Converted, HfTokenizer Hf);

    public VocabFixture()
    {
        var psi = new ProcessStartInfo("bash", [Path.Combine(RepoRoot, "tests", "fetch-tokenizers.sh"), "--with-node"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"tests/fetch-tokenizers.sh failed ({p.ExitCode}): {stderr}{stdout}");
    }

    public Loaded Get(string variant)
    {
        lock (_lock)
        {
            if (_loaded.TryGetValue(variant, out var l)) return l;
            var (name, source, pre, tweak) = Variants.Single(v => v.Name == variant);
            var hf = HfTokenizer.Load(Path.Combine(CacheDir, source, "tokenizer.json"), Path.Combine(CacheDir, source, "tokenizer_config.json"), pre: pre);
            string path = Path.Combine(_dir, name + ".gguf");
            string convertedPath = Path.Combine(_dir, name + ".strata.gguf");
            WriteVocabGguf(hf, path, tweak is null ? null : w => tweak(hf, w), strataExtensions: false);
            WriteVocabGguf(hf, convertedPath, tweak is null ? null : w => tweak(hf, w), strataExtensions: true);
            var weights = LLamaWeights.LoadFromFile(new ModelParams(path) { VocabOnly = true });
            using var f = GgufFile.Open(path);
            using var fc = GgufFile.Open(convertedPath);
            l = new Loaded(name, path, weights, new Tokenizer(Vocabulary.FromGguf(f.Metadata)), new Tokenizer(Vocabulary.FromGguf(fc.Metadata)), hf);
            _loaded[variant] = l;
            return l;
        }
    }

    /// <summary>A GGUF with the tokenizer and the minimal llama hyper-parameters llama.cpp needs for a vocab-only load.</summary>
    public static void WriteVocabGguf(HfTokenizer hf, string path, Action<GgufWriter>? tweak = null, bool strataExtensions = true)
    {
        var w = new GgufWriter();
        w.Add("general.architecture", "llama");
        w.Add("general.name", "strata tokenizer test");
        w.Add("llama.context_length", 128u);
        w.Add("llama.embedding_length", 64u);
        w.Add("llama.block_count", 1u);
        w.Add("llama.feed_forward_length", 128u);
        w.Add("llama.attention.head_count", 4u);
        w.Add("llama.attention.head_count_kv", 4u);
        w.Add("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        w.Add("llama.rope.dimension_count", 16u);
        w.Add("llama.vocab_size", (uint)hf.Tokens.Length);
        hf.WriteTo(w, strataExtensions);
        tweak?.Invoke(w);
        w.Write(path);
    }

    public static int[] LlamaTokenize(LLamaWeights w, string text, bool addSpecial, bool parseSpecial) =>
        w.NativeHandle.Tokenize(text, addSpecial, parseSpecial, Encoding.UTF8).Select(t => (int)t).ToArray();

    public static byte[] LlamaPiece(LLamaWeights w, int id, bool special)
    {
        Span<byte> buf = stackalloc byte[256];
        uint n = w.NativeHandle.TokenToSpan((LLamaToken)id, buf, 0, special);
        if (n > buf.Length)
        {
            var big = new byte[n];
            w.NativeHandle.TokenToSpan((LLamaToken)id, big, 0, special);
            return big;
        }
        return buf[..(int)n].ToArray();
    }

    /// <summary>llama.cpp's llama_detokenize (LLamaSharp keeps it and the vocab pointer internal; reach them by reflection).</summary>
    public static unsafe string LlamaDetokenize(LLamaWeights w, int[] ids, bool removeSpecial, bool unparseSpecial)
    {
        const System.Reflection.BindingFlags Any = System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Static
            | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public;
        var vocab = w.NativeHandle.Vocab;
        object nativeVocab = vocab.GetType().GetProperty("VocabNative", Any)!.GetValue(vocab)!;
        var detok = typeof(NativeApi).GetMethod("llama_detokenize", Any)
            ?? throw new InvalidOperationException("LLamaSharp has no llama_detokenize");
        var tokens = ids.Select(i => (LLamaToken)i).ToArray();
        var buf = new byte[ids.Length * 64 + 64];
        int n;
        fixed (LLamaToken* t = tokens)
        fixed (byte* b = buf)
            n = (int)detok.Invoke(null, [nativeVocab, System.Reflection.Pointer.Box(t, typeof(LLamaToken*)), tokens.Length,
                System.Reflection.Pointer.Box(b, typeof(byte*)), buf.Length, removeSpecial, unparseSpecial])!;
        if (n < 0) throw new InvalidOperationException("detokenize buffer too small");
        return Encoding.UTF8.GetString(buf, 0, n);
    }

    public static string[] Corpus() =>
        System.Text.Json.JsonSerializer.Deserialize<string[]>(File.ReadAllText(Path.Combine(RepoRoot, "tests", "Strata.Tests", "Tokenizers", "corpus.json")))!;

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Strata.sln"))) return d.FullName;
        throw new InvalidOperationException("cannot find the repository root (Strata.sln) above " + AppContext.BaseDirectory);
    }

    public void Dispose()
    {
        foreach (var l in _loaded.Values) l.Llama.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition("vocab")]
public sealed class VocabCollection : ICollectionFixture<VocabFixture>;
