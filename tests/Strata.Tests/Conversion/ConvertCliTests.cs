using Strata.Gguf;
using Strata.Tests.Support;
using Strata.Tests.Tokenizers;

namespace Strata.Tests.Conversion;

/// <summary>`strata convert` and `strata quantize` as a user runs them: outputs, and one clear line with exit code 2 on bad input.</summary>
[Collection("vocab")]
public class ConvertCliTests(VocabFixture fx)
{
    [Fact]
    public void ConvertThenQuantize()
    {
        Assert.NotNull(fx);
        using var dir = new TempDir();
        var built = HfCheckpoints.Write(new HfSpec("cli", "LlamaForCausalLM", "llama2", Dim: 256, Heads: 4, KvHeads: 2, FeedForward: 256, Layers: 1, DType: "BF16"), Path.Combine(dir.Path, "hf"));
        string gguf = Path.Combine(dir.Path, "m.gguf"), q = Path.Combine(dir.Path, "m-q4km.gguf");
        var r = StrataCli.Run("convert", built.Dir, "-o", gguf, "--type", "bf16");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("llama, ", r.Stdout);
        Assert.Equal("", r.Stderr); // no progress bar when stderr is not a terminal
        using (var f = GgufFile.Open(gguf)) Assert.Equal(Strata.Tensors.GgmlType.BF16, f.FindTensor("blk.0.attn_q.weight")!.Type);

        var qr = StrataCli.Run("quantize", gguf, q, "Q4_K_M");
        Assert.True(qr.ExitCode == 0, qr.Stderr);
        Assert.Contains("Q4_K_M", qr.Stdout);
        using (var f = GgufFile.Open(q))
        {
            Assert.Equal(15u, f.Metadata.GetUInt32("general.file_type"));
            Assert.Equal(Strata.Tensors.GgmlType.Q6_K, f.FindTensor("blk.0.attn_v.weight")!.Type);
            Assert.Equal(Strata.Tensors.GgmlType.Q4_K, f.FindTensor("blk.0.attn_q.weight")!.Type);
        }

        foreach (var (args, message) in new (string[], string)[]
        {
            (["convert", built.Dir], "no output given"),
            (["convert", built.Dir, "-o", gguf, "--type", "q4_0"], "--type must be one of"),
            (["convert", Path.Combine(dir.Path, "nope"), "-o", gguf], "no such directory"),
            (["quantize", gguf, q, "Q3_X"], "unknown type 'Q3_X'"),
            (["quantize", gguf, q], "usage: strata quantize"),
            (["quantize", Path.Combine(dir.Path, "missing.gguf"), q, "Q8_0"], "no such file"),
        })
        {
            var e = StrataCli.Run(args);
            Assert.Equal(2, e.ExitCode);
            Assert.Contains(message, e.Stderr);
            Assert.Single(e.Stderr.TrimEnd().Split('\n'));
        }
    }
}
