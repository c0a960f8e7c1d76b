using System.Diagnostics;
using Strata.Conversion;
using Strata.Gguf;
using Strata.Tests.Tokenizers;
using Strata.Tokenizers;

namespace Strata.Tests.Grammar;

/// <summary>
/// The real Llama 2, Llama 3 and Qwen3 vocabularies (fetched once by tests/fetch-tokenizers.sh, as the tokenizer tests
/// fetch them), loaded as Strata tokenizers through the converter's GGUF writer; Qwen3 padded to the 151,936 rows of
/// its models. Loaded once per test run.
/// </summary>
public static class RealVocabularies
{
    private static readonly Lazy<bool> Fetched = new(Fetch);
    private static readonly Dictionary<string, Tokenizer> Loaded = new();

    public static readonly (string Name, int? VocabSize)[] All = [("llama2", null), ("llama3", null), ("qwen3", 151_936)];

    public static Tokenizer Get(string name)
    {
        _ = Fetched.Value;
        lock (Loaded)
        {
            if (Loaded.TryGetValue(name, out var t)) return t;
            int? size = All.Single(v => v.Name == name).VocabSize;
            string dir = Path.Combine(VocabFixture.CacheDir, name);
            var hf = HfTokenizer.Load(Path.Combine(dir, "tokenizer.json"), Path.Combine(dir, "tokenizer_config.json"), vocabSize: size);
            string path = Path.Combine(Path.GetTempPath(), $"strata-grammar-vocab-{name}-{Environment.ProcessId}.gguf");
            try
            {
                VocabFixture.WriteVocabGguf(hf, path);
                using var f = GgufFile.Open(path);
                t = new Tokenizer(Vocabulary.FromGguf(f.Metadata));
            }
            finally { File.Delete(path); }
            Loaded[name] = t;
            return t;
        }
    }

    private static bool Fetch()
    {
        var psi = new ProcessStartInfo("bash", [Path.Combine(VocabFixture.RepoRoot, "tests", "fetch-tokenizers.sh")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"tests/fetch-tokenizers.sh failed ({p.ExitCode}): {stderr}{stdout}");
        return true;
    }
}
