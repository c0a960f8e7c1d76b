using System.Globalization;
using System.Text;
using Strata.Engine;
using Strata.Quantization;
using Strata.Tests.Support;
using Xunit.Abstractions;

namespace Strata.Tests.Quantization;

/// <summary>
/// Builds docs/QUANTIZATION.md's table: size and perplexity per quantization type for a synthetic model (no default
/// model is embedded yet). The text is 2048 tokens sampled from the F32 model itself at temperature 1, so the F32
/// perplexity is the model's own entropy and each type's increase is its quantization loss.
/// Runs only with STRATA_QUANT_TABLE=PATH (the file it writes); otherwise it checks the tool on a small sample.
/// </summary>
public class QuantizationTable(ITestOutputHelper log)
{
    [Fact]
    public void SizeAndPerplexityPerType()
    {
        string? outPath = Environment.GetEnvironmentVariable("STRATA_QUANT_TABLE");
        bool full = !string.IsNullOrEmpty(outPath);
        using var dir = new TempDir();
        var spec = new ModelSpec("llama", Dim: 256, Layers: 8, Heads: 4, KvHeads: 2, FeedForward: 512, Vocab: 1000, Seed: 42);
        string f32 = TestModels.Write(spec, dir.Path);
        int ctx = full ? 256 : 128, n = full ? 2048 : 2 * ctx;

        int[] tokens = new int[n];
        using (var model = Model.Load(f32, new ModelOptions { Threads = 2, Context = n }))
        {
            var rng = new Random(7);
            int vocab = model.Config.VocabSize;
            var logits = new float[vocab];
            using var seq = model.NewSequence();
            tokens[0] = 1;
            for (int i = 1; i < n; i++)
            {
                model.Transformer.Forward(tokens.AsSpan(i - 1, 1), seq, logits);
                float max = logits.Max();
                double sum = 0;
                foreach (var l in logits) sum += Math.Exp(l - max);
                double u = rng.NextDouble() * sum, acc = 0;
                int pick = vocab - 1;
                for (int j = 0; j < vocab; j++) { acc += Math.Exp(logits[j] - max); if (acc >= u) { pick = j; break; } }
                tokens[i] = pick;
            }
        }

        double Ppl(string path)
        {
            using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = ctx });
            int vocab = model.Config.VocabSize;
            var logits = new float[ctx * vocab];
            return Strata.Engine.Perplexity.Compute(tokens, ctx, 1, (window, first, sink) =>
            {
                using var seq = model.NewSequence();
                model.Transformer.Forward(window, seq, logits, allLogits: true);
                for (int p = first; p < window.Length; p++) sink(p, logits.AsSpan(p * vocab, vocab));
            }).Perplexity;
        }

        var rows = new List<(string Type, long Bytes, double Ppl)> { ("F32", new FileInfo(f32).Length, Ppl(f32)) };
        var mixes = full ? QuantMix.All.Where(m => !m.Name.EndsWith("_S")).Select(m => m.Name) : ["Q8_0", "Q4_K_M"];
        foreach (var name in mixes)
        {
            string q = Path.Combine(dir.Path, name + ".gguf");
            ModelQuantizer.Quantize(f32, q, QuantMix.Find(name)!, threads: 2);
            rows.Add((name, new FileInfo(q).Length, Ppl(q)));
        }
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("| type | file size | bits/weight | perplexity | vs F32 |");
        sb.AppendLine("|------|----------:|------------:|-----------:|-------:|");
        long weights = 0;
        using (var f = Strata.Gguf.GgufFile.Open(f32)) weights = f.Tensors.Sum(t => t.ElementCount);
        foreach (var (type, bytes, ppl) in rows)
            sb.AppendLine(string.Format(ci, "| {0} | {1:F2} MiB | {2:F2} | {3:F4} | {4:+0.00;-0.00;0.00} % |", type, bytes / 1048576.0, bytes * 8.0 / weights, ppl, (ppl / rows[0].Ppl - 1) * 100));
        log.WriteLine(sb.ToString());
        Assert.All(rows, r => Assert.True(double.IsFinite(r.Ppl) && r.Ppl > 1));
        Assert.True(rows.Single(r => r.Type == "Q8_0").Ppl / rows[0].Ppl < 1.05, "Q8_0 should be nearly lossless");
        if (full) File.WriteAllText(outPath!, sb.ToString());
    }
}
