using System.CommandLine;
using Strata.Quantization;
using Strata.Tensors;

namespace Strata.Cli.Commands;

/// <summary><c>strata quantize IN.gguf OUT.gguf TYPE [--threads N]</c>.</summary>
internal sealed class QuantizeCommand : Command
{
    private readonly Argument<string> _input = new Argument<string>("IN.gguf") { Description = "the model to quantize" }.ExistingFile();
    private readonly Argument<string> _output = new("OUT.gguf") { Description = "the quantized model to write" };
    private readonly Argument<string> _type = new("TYPE") { HelpName = "TYPE", Description = $"one of {string.Join(" ", QuantMix.All.Select(m => m.Name))} (the K mixes as llama.cpp's llama-quantize builds them)" };
    private readonly Option<int> _threads = CommonOptions.Threads();

    public QuantizeCommand() : base("quantize", "quantize a GGUF model")
    {
        _type.Validators.Add(r =>
        {
            string name = r.GetValueOrDefault<string>();
            if (QuantMix.Find(name) is null) r.AddError($"unknown type '{name}' (supported: {string.Join(", ", QuantMix.All.Select(m => m.Name))})");
        });
        _type.CompletionSources.Add([.. QuantMix.All.Select(m => m.Name)]);
        Add(_input);
        Add(_output);
        Add(_type);
        Add(_threads);
        SetAction(Execute);
    }

    private int Execute(ParseResult p)
    {
        var mix = QuantMix.Find(p.GetValue(_type)!)!;
        string output = p.GetValue(_output)!;
        var report = Terminal.WithProgress($"quantizing to {mix.Name}", "weights",
            progress => ModelQuantizer.Quantize(p.GetValue(_input)!, output, mix, p.GetValue(_threads), progress));
        long before = report.Sum(t => t.BytesBefore), after = report.Sum(t => t.BytesAfter);
        var counts = report.GroupBy(t => t.To).OrderBy(g => g.Key).Select(g => $"{g.Count()} {GgmlTypeInfo.Name(g.Key)}");
        Console.Out.WriteLine($"{output}: {mix.Name}, {before / 1048576.0:F2} MiB -> {after / 1048576.0:F2} MiB of tensors ({string.Join(", ", counts)})");
        return 0;
    }
}
