using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Strata.Bench.SideBySide;
using Strata.Conversion;
using Strata.Engine;
using Strata.Gguf;
using Strata.Grammar;
using Strata.Sampling;
using Strata.Tests.Support;
using Strata.Tokenizers;

namespace Strata.Bench;

/// <summary>
/// <c>grammar-mask</c>: what grammar-constrained decoding costs per token. Part 1 replays JSON documents valid under a
/// nested schema through the matcher on the real Llama 2 (32,000) and Qwen3 (151,936) vocabularies — at each token
/// the mask is applied to a logits row and the document's next token accepted, as decoding does — for a grammar seen
/// for the first time (cold: the automaton and every mask built on the way), for further documents under the same
/// grammar, and for a document seen before (warm). Part 2 decodes with and without the grammar on random-weight
/// models that have those vocabularies. Times are thread CPU time (the machine is shared; wall time is printed too).
/// </summary>
public static class GrammarMaskBench
{
    public const string Schema = Strata.Tests.Grammar.GrammarSamples.NestedSchema;

    public static int Run(string[] args)
    {
        int docs = int.Parse(BenchModels.Option(args, "--docs", "8"));
        int decodeTokens = int.Parse(BenchModels.Option(args, "--decode-tokens", "96"));
        var vocabs = BenchModels.Option(args, "--vocab", "llama2,qwen3").Split(',');
        Console.WriteLine($"grammar-mask: nested schema, {docs} documents per vocabulary; times are thread CPU time (wall in brackets)");
        Console.WriteLine();
        Console.WriteLine($"{"vocabulary",-22} {"grammar",8} {"first document",26} {"next documents",26} {"seen document",26}");
        Console.WriteLine($"{"",-22} {"compile",8} {"mean / median / max ms",26} {"mean / median / max ms",26} {"mean / median / max ms",26}");
        var loaded = new List<(string Name, Tokenizer Tok, int Size)>();
        foreach (var name in vocabs)
        {
            var (tok, size, label) = LoadVocabulary(name);
            loaded.Add((name, tok, size));
            MaskCost(tok, size, label, docs);
        }
        if (!args.Contains("--no-decode"))
        {
            Console.WriteLine();
            Console.WriteLine("decode: CPU ms per token (prefill taken out), 1 thread; free text as long as the schema's output;");
            Console.WriteLine("mask: the grammar's own time per token of that output (mask applied, token accepted) and its share of free decoding");
            Console.WriteLine($"{"random model",-30} {"tokens",6} {"free text",12} {"schema cold",12} {"schema warm",12} {"mask cold (share)",22} {"mask warm (share)",22}");
            foreach (var (name, tok, size) in loaded) Decode(name, tok, size, decodeTokens);
        }
        return 0;
    }

    // ------------------------------------------------------------------ part 1

    private static void MaskCost(Tokenizer tok, int vocabSize, string label, int docs)
    {
        var texts = Documents(docs, seed: 1);
        var tokenized = texts.Select(t => Tokenize(tok, t)).ToArray();
        WarmUp(tok, vocabSize, tokenized);
        string gbnf = JsonSchemaGrammar.ToGbnf(Schema);
        var c0 = Clock.Now();
        var grammar = TokenGrammar.Compile(Gbnf.Parse(gbnf), tok, vocabSize);   // not the cache: this one starts cold
        var compile = Clock.Now() - c0;
        var logits = new float[vocabSize];
        var first = Replay(grammar, tokenized[0], logits);
        var next = tokenized.Skip(1).SelectMany(d => Replay(grammar, d, logits)).ToList();
        var seen = Replay(grammar, tokenized[0], logits);
        Console.WriteLine($"{label,-22} {compile.Cpu,6:F0}ms {Stats(first),26} {Stats(next),26} {Stats(seen),26}");
    }

    /// <summary>The tokenizer's tokens for the text, without the space SentencePiece vocabularies put in front (a model
    /// answering with JSON writes "{" as its first token, not " {").</summary>
    private static int[] Tokenize(Tokenizer tok, string text)
    {
        var ids = tok.Encode(text, addSpecial: false, parseSpecial: false).ToList();
        var first = tok.TokenBytes(ids[0]);
        if (first.Length > 0 && first[0] == (byte)' ' && !text.StartsWith(' '))
        {
            ids.RemoveAt(0);
            if (first.Length > 1)
            {
                var rest = first[1..];
                int same = Enumerable.Range(0, tok.Vocabulary.Count).First(t => tok.TokenBytes(t).AsSpan().SequenceEqual(rest));
                ids.Insert(0, same);
            }
        }
        if (!tok.DecodeBytes(ids).AsSpan().SequenceEqual(Encoding.UTF8.GetBytes(text))) throw new InvalidOperationException("tokens do not spell the document");
        return ids.ToArray();
    }

    /// <summary>Runs the matcher's code through the JIT's tiers on another grammar first, as any process that has
    /// served a request has; the cold numbers are then the grammar's, not the JIT's.</summary>
    private static void WarmUp(Tokenizer tok, int vocabSize, int[][] documents)
    {
        var logits = new float[vocabSize];
        for (int round = 0; round < 3; round++)
        {
            var other = TokenGrammar.Compile(Gbnf.Parse(JsonSchemaGrammar.JsonObjectGbnf), tok, vocabSize);
            foreach (var d in documents) Replay(other, d, logits);
            Thread.Sleep(300);   // tier-1 code is compiled in the background
        }
    }

    /// <summary>Mask and accept for each token of a document, as decoding does it; the per-token times.</summary>
    private static List<Clock.Span> Replay(TokenGrammar grammar, int[] tokens, float[] logits)
    {
        var m = grammar.NewMatcher();
        var times = new List<Clock.Span>(tokens.Length);
        foreach (int t in tokens)
        {
            var t0 = Clock.Now();
            m.ApplyTo(logits);
            bool ok = m.Accept(t);
            times.Add(Clock.Now() - t0);
            if (!ok) throw new InvalidOperationException($"the grammar refused token {t} of a valid document");
        }
        if (!m.CanEnd) throw new InvalidOperationException("a valid document did not complete the grammar");
        return times;
    }

    private static string Stats(List<Clock.Span> t)
    {
        var cpu = t.Select(x => x.Cpu).ToList();
        var wall = t.Select(x => x.Wall).ToList();
        return $"{cpu.Average():F3} / {BenchModels.Median(cpu):F3} / {cpu.Max():F1} [{wall.Average():F3}]";
    }

    /// <summary>Documents valid under <see cref="Schema"/>, varied in values, layout and script.</summary>
    public static List<string> Documents(int n, int seed)
    {
        var rng = new Random(seed);
        string[] names = ["Ada Lovelace", "Grace", "Zoë Martín", "李小龍", "Émile", "Ngozi O.", "Søren K", "Olu"];
        string[] tags = ["admin", "beta", "ops", "日本", "café", "ml", "red", "x"];
        var list = new List<string>();
        for (int i = 0; i < n; i++)
        {
            var doc = new Dictionary<string, object?>
            {
                ["id"] = rng.Next(1, 99999),
                ["name"] = names[rng.Next(names.Length)],
                ["tags"] = Enumerable.Range(0, rng.Next(1, 4)).Select(_ => tags[rng.Next(tags.Length)]).ToArray(),
                ["owner"] = new Dictionary<string, object> { ["uid"] = new Guid(Enumerable.Range(0, 16).Select(_ => (byte)rng.Next(256)).ToArray()).ToString(),
                    ["since"] = $"{rng.Next(1990, 2026)}-{rng.Next(1, 13):00}-{rng.Next(1, 29):00}", ["admin"] = rng.Next(2) == 0 },
                ["status"] = new[] { "active", "inactive", "banned" }[rng.Next(3)],
                ["score"] = rng.Next(4) == 0 ? null : Math.Round(rng.NextDouble() * 100, rng.Next(0, 3)),
            };
            if (rng.Next(2) == 0) doc["note"] = "see notes";
            doc["history"] = Enumerable.Range(0, rng.Next(0, 3)).Select(_ => new Dictionary<string, string>
                { ["kind"] = "login", ["code"] = $"{(char)('A' + rng.Next(26))}{(char)('A' + rng.Next(26))}{rng.Next(10)}{rng.Next(10)}" }).ToArray();
            list.Add(JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = i % 2 == 0, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        }
        return list;
    }

    // ------------------------------------------------------------------ part 2

    private static void Decode(string name, Tokenizer tok, int vocabSize, int tokens)
    {
        var spec = new ModelSpec("llama", Dim: 256, Layers: 4, Heads: 8, KvHeads: 2, FeedForward: 768, Vocab: vocabSize, Type: Strata.Tensors.GgmlType.Q8_0, Seed: 5, Context: 1024);
        string dir = Path.Combine(Path.GetTempPath(), "strata-bench");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, $"grammar-{name}-{vocabSize}.gguf");
        if (!File.Exists(path))
        {
            Console.Error.WriteLine($"writing a random model with the {name} vocabulary to {path} ...");
            File.Move(TestModels.Write(spec, dir, w => WriteVocabulary(w, name, vocabSize)), path, overwrite: true);
        }
        // One thread (the caller computes every matmul itself): its CPU time is the decode's whole work, whatever else
        // the machine runs.
        using var model = Model.Load(path, new ModelOptions { Threads = 1, Context = 1024 });
        using var gen = new Generator(model);
        var prompt = model.Tokenize("Describe a user as JSON:");
        SamplerOptions Sampling(ulong seed) => new() { Temperature = 1, TopK = 40, TopP = 0.95f, MinP = 0.05f, Seed = seed };
        (double Cpu, int Tokens) Run(GenerationOptions o)
        {
            var c0 = Clock.Now();
            var r = gen.Generate(prompt, o);
            return ((Clock.Now() - c0).Cpu, r.Tokens.Length);
        }
        // CPU ms per generated token, the prompt's prefill and the first token (measured apart) taken out.
        double PerToken(GenerationOptions o)
        {
            var (one, _) = Run(o with { MaxTokens = 1 });
            var (all, n) = Run(o);
            return n > 1 ? (all - one) / (n - 1) : 0;
        }
        for (int i = 0; i < 3; i++)
        {
            Run(new GenerationOptions { MaxTokens = 100, Sampling = Sampling(99) });   // JIT warm-up, no grammar
            Thread.Sleep(300);
        }
        string gbnf = JsonSchemaGrammar.ToGbnf(Schema);
        var schema = new GenerationOptions { MaxTokens = 600, Sampling = Sampling(7), Grammar = TokenGrammar.Compile(Gbnf.Parse(gbnf), model.Tokenizer, vocabSize) };
        var (prefill, _) = Run(new GenerationOptions { MaxTokens = 1, Sampling = Sampling(7) });
        var c0 = Clock.Now();
        var output = gen.Generate(prompt, schema);   // the grammar's first use: automaton and masks built on the way
        double cold = ((Clock.Now() - c0).Cpu - prefill) / Math.Max(1, output.Tokens.Length - 1);
        int length = output.Tokens.Length;
        var warm = Enumerable.Range(0, 3).Select(_ => PerToken(schema)).ToList();
        // Free text of the same length: attention grows with the position, so lengths must match.
        var free = Enumerable.Range(0, 3).Select(i => PerToken(new GenerationOptions { MaxTokens = length, Sampling = Sampling((ulong)i) })).ToList();
        // The grammar's own share, timed directly: the same tokens through a fresh grammar (cold) and again (warm).
        var logits = new float[vocabSize];
        var fresh = TokenGrammar.Compile(Gbnf.Parse(gbnf), model.Tokenizer, vocabSize);
        double maskCold = Replay(fresh, output.Tokens, logits).Average(t => t.Cpu);
        double maskWarm = Replay(fresh, output.Tokens, logits).Average(t => t.Cpu);
        double f = BenchModels.Median(free), w = BenchModels.Median(warm);
        Console.WriteLine($"{$"{name} ({vocabSize:N0}), d256 L4 Q8_0",-30} {length,6} {f,9:F2} ms {cold,9:F2} ms {w,9:F2} ms {maskCold,9:F3} ms ({maskCold / f,5:P1}) {maskWarm,9:F3} ms ({maskWarm / f,5:P1})");
    }

    // ------------------------------------------------------------------ vocabularies

    private static string? CacheDir(string name)
    {
        string root = Environment.GetEnvironmentVariable("STRATA_TOKENIZER_CACHE") ?? Path.Combine(RepoRoot(), "tests", "Strata.Tests", ".data", "tokenizers");
        string dir = Path.Combine(root, name);
        return File.Exists(Path.Combine(dir, "tokenizer.json")) ? dir : null;
    }

    private static (Tokenizer Tok, int Size, string Label) LoadVocabulary(string name)
    {
        int size = name == "qwen3" ? 151_936 : 32_000;
        string path = Path.Combine(Path.GetTempPath(), $"strata-bench-vocab-{name}-{Environment.ProcessId}.gguf");
        var w = new GgufWriter();
        w.Add("general.architecture", "llama");
        string label = WriteVocabulary(w, name, size);
        w.Write(path);
        try
        {
            using var f = GgufFile.Open(path);
            return (new Tokenizer(Vocabulary.FromGguf(f.Metadata)), size, label);
        }
        finally { File.Delete(path); }
    }

    /// <summary>The real vocabulary if tests/fetch-tokenizers.sh has fetched it, else a synthetic one of that size.</summary>
    private static string WriteVocabulary(GgufWriter w, string name, int size)
    {
        if (CacheDir(name) is { } dir)
        {
            var hf = HfTokenizer.Load(Path.Combine(dir, "tokenizer.json"), Path.Combine(dir, "tokenizer_config.json"), vocabSize: size);
            hf.WriteTo(w);
            return $"{name} {size:N0}";
        }
        Console.Error.WriteLine($"{name}: not fetched (run tests/fetch-tokenizers.sh); using a synthetic vocabulary of {size:N0} pieces");
        TestModels.AddSpmVocab(w, size, new Random(size));
        return $"synthetic {size:N0}";
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Strata.sln"))) return d.FullName;
        return Directory.GetCurrentDirectory();
    }

    /// <summary>Thread CPU time (immune to other jobs taking the cores) and wall time.</summary>
    private static class Clock
    {
        public readonly record struct Span(double Cpu, double Wall);
        public readonly record struct Stamp(double Cpu, long Wall)
        {
            public static Span operator -(Stamp a, Stamp b) => new(a.Cpu - b.Cpu, Stopwatch.GetElapsedTime(b.Wall, a.Wall).TotalMilliseconds);
        }

        [StructLayout(LayoutKind.Sequential)]
        private struct TimeSpec { public long Sec; public long Nsec; }

        [DllImport("libc", EntryPoint = "clock_gettime")]
        private static extern int ClockGetTime(int clock, out TimeSpec ts);

        private const int ThreadCpuTime = 3;   // CLOCK_THREAD_CPUTIME_ID on Linux
        private static readonly bool HasThreadClock = OperatingSystem.IsLinux();

        public static Stamp Now()
        {
            double cpu;
            if (HasThreadClock && ClockGetTime(ThreadCpuTime, out var ts) == 0) cpu = ts.Sec * 1e3 + ts.Nsec / 1e6;
            else cpu = Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;
            return new Stamp(cpu, Stopwatch.GetTimestamp());
        }
    }
}
