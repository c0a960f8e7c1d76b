using LLama;
using LLama.Native;
using Strata.Engine;
using Strata.Gguf;
using Strata.Quantization;
using Strata.Tensors;
using Strata.Tests.Support;
using Xunit.Abstractions;

namespace Strata.Tests.Quantization;

/// <summary>
/// Strata's quantizer against llama.cpp's (LLamaQuantizer) on the same F32 model: the same type for every tensor, RMS
/// error per tensor within 1.05× of llama.cpp's, and the output loads and runs in llama.cpp and in Strata.
/// </summary>
public class QuantizeTests : IClassFixture<QuantizeTests.Source>
{
    /// <summary>8 layers so the K mixes' per-layer rules show; rows of 256 and 512 so K-quants apply, 96 to force fallbacks.</summary>
    public sealed class Source : IDisposable
    {
        public TempDir Dir { get; } = new();
        public string Path { get; }
        public string SmallPath { get; }
        public Source()
        {
            Path = TestModels.Write(new ModelSpec("llama", Dim: 256, Layers: 8, Heads: 4, KvHeads: 2, FeedForward: 512, Vocab: 1000), Dir.Path);
            SmallPath = TestModels.Write(new ModelSpec("qwen2", Dim: 96, Layers: 2, Heads: 3, KvHeads: 1, FeedForward: 160, Vocab: 400, Tied: true), Dir.Path);
        }
        public void Dispose() => Dir.Dispose();
    }

    private readonly Source _src;
    private readonly ITestOutputHelper _log;

    public QuantizeTests(Source src, ITestOutputHelper log)
    {
        _src = src;
        _log = log;
        LlamaCpp.QuietNativeLog();
        NativeApi.llama_empty_call(); // loads the native library, which LLamaQuantizer's own imports do not
    }

    public static TheoryData<string> Mixes() => new(QuantMix.All.Select(m => m.Name).Where(n => !n.EndsWith("_S")));

    private static float[] Values(GgufFile f, GgufTensorInfo t)
    {
        var data = f.TensorData(t);
        int cols = (int)t.Shape[0];
        int rowBytes = (int)GgmlTypeInfo.RowBytes(t.Type, cols);
        var v = new float[t.ElementCount];
        for (int r = 0; r < t.Rows; r++) Dequantize.Row(t.Type, data.Slice(r * rowBytes, rowBytes), v.AsSpan(r * cols, cols));
        return v;
    }

    private static double Rms(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (double)(a[i] - b[i]) * (a[i] - b[i]);
        return Math.Sqrt(s / a.Length);
    }

    [Theory]
    [MemberData(nameof(Mixes))]
    public void MatchesLlamaCppQuantizer(string name)
    {
        foreach (string source in new[] { _src.Path, _src.SmallPath })
        {
            var mix = QuantMix.Find(name)!;
            string ours = Path.Combine(_src.Dir.Path, $"{Path.GetFileNameWithoutExtension(source)}-{name}-strata.gguf");
            string theirs = Path.Combine(_src.Dir.Path, $"{Path.GetFileNameWithoutExtension(source)}-{name}-llama.gguf");
            ModelQuantizer.Quantize(source, ours, mix, threads: 2);
            Assert.True(LLamaQuantizer.Quantize(source, theirs, (LLamaFtype)mix.FileType, nthread: 2, allowRequantize: true, quantizeOutputTensor: true));

            using var orig = GgufFile.Open(source);
            using var a = GgufFile.Open(ours);
            using var b = GgufFile.Open(theirs);
            Assert.Equal(mix.FileType, a.Metadata.GetUInt32("general.file_type"));
            double worst = 0;
            int identical = 0;
            foreach (var t in orig.Tensors)
            {
                var ta = a.FindTensor(t.Name)!;
                var tb = b.FindTensor(t.Name)!;
                Assert.True(tb.Type == ta.Type, $"{name} {t.Name}: strata chose {ta.Type}, llama.cpp {tb.Type}");
                var x = Values(orig, t);
                double ea = Rms(Values(a, ta), x), eb = Rms(Values(b, tb), x);
                double ratio = eb == 0 ? (ea == 0 ? 1 : double.PositiveInfinity) : ea / eb;
                worst = Math.Max(worst, ratio);
                Assert.True(ratio <= 1.05, $"{name} {t.Name} ({ta.Type}): RMS error {ea:G4} vs llama.cpp {eb:G4}");
                if (a.TensorData(ta).SequenceEqual(b.TensorData(tb))) identical++;
            }
            _log.WriteLine($"{name} {Path.GetFileName(source)}: worst RMS error ratio strata/llama.cpp = {worst:F4}; {identical}/{orig.Tensors.Count} tensors byte-identical; {new FileInfo(ours).Length} vs {new FileInfo(theirs).Length} bytes; types {string.Join(", ", a.Tensors.GroupBy(t => t.Type).Select(g => $"{g.Count()} {g.Key}"))}");

            // llama.cpp and Strata both load and run the output. (How closely the two engines agree on quantized
            // models is Models/QuantizedModelTests' subject; here it is only logged.)
            var tokens = new[] { 1, 17, 42, 99, 5, 230, 77, 3 };
            float[][] expected;
            using (var llama = new LlamaCpp(ours, context: 32)) expected = llama.Logits(tokens);
            using var model = Model.Load(ours, new ModelOptions { Threads = 2, Context = 32 });
            int vocab = model.Config.VocabSize;
            var all = new float[tokens.Length * vocab];
            using var seq = model.NewSequence();
            model.Transformer.Forward(tokens, seq, all, allLogits: true);
            Assert.All(expected.SelectMany(r => r), v => Assert.True(float.IsFinite(v)));
            double dev = 0;
            for (int p = 0; p < tokens.Length; p++)
            {
                double mean = expected[p].Average(), std = Math.Sqrt(expected[p].Sum(v => (v - mean) * (v - mean)) / vocab);
                for (int j = 0; j < vocab; j++) dev = Math.Max(dev, Math.Abs(all[p * vocab + j] - expected[p][j]) / std);
            }
            Assert.All(all, v => Assert.True(float.IsFinite(v)));
            _log.WriteLine($"  strata vs llama.cpp logits on the quantized model: max dev {dev:P3} of std");
        }
    }

    [Fact]
    public void MixRulesFollowLlamaCpp()
    {
        var m = QuantMix.Find("Q4_K_M")!;
        // 8 layers: use_more_bits is true for layers 0, 3, 6, 7.
        var v = Enumerable.Range(0, 8).Select(l => m.TypeFor($"blk.{l}.attn_v.weight", 256, 8, 8, true)).ToArray();
        Assert.Equal([GgmlType.Q6_K, GgmlType.Q4_K, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q4_K, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q6_K], v);
        Assert.Equal(GgmlType.Q6_K, m.TypeFor("output.weight", 256, 8, 8, true));
        Assert.Equal(GgmlType.Q4_K, m.TypeFor("token_embd.weight", 256, 8, 8, true));
        Assert.Equal(GgmlType.Q6_K, m.TypeFor("token_embd.weight", 256, 8, 8, false));
        Assert.Equal(GgmlType.Q5_0, m.TypeFor("blk.1.attn_q.weight", 96, 8, 8, true));
        Assert.Equal(GgmlType.Q8_0, m.TypeFor("blk.0.ffn_down.weight", 96, 8, 8, true));
        Assert.False(QuantMix.Quantizes("blk.0.attn_norm.weight", 1));
        Assert.False(QuantMix.Quantizes("blk.0.attn_q.bias", 1));
    }
}
