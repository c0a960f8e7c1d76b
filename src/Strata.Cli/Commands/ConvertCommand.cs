using System.CommandLine;
using Strata.Conversion;

namespace Strata.Cli.Commands;

/// <summary><c>strata convert HF_DIR -o OUT.gguf [--type f32|f16|bf16|q8_0]</c>.</summary>
internal sealed class ConvertCommand : Command
{
    private readonly Argument<string> _dir = new Argument<string>("HF_DIR") { Description = "Hugging Face model folder (config.json, *.safetensors, tokenizer.json)" }
        .ExistingDirectory("a Hugging Face model folder");
    private readonly Option<string?> _output = new("--output", "-o") { Description = "the GGUF file to write (required)", HelpName = "OUT.gguf" };
    private readonly Option<string> _type = Opt.OneOf("--type", [], "type of the matrices", "f16", [.. HfModelConverter.OutTypes.Keys]);
    private readonly Option<int> _threads = CommonOptions.Threads();

    public ConvertCommand() : base("convert", "turn a Hugging Face Llama, Mistral, Qwen2 or Qwen3 model folder into GGUF")
    {
        Add(_dir);
        Add(_output);
        Add(_type);
        Add(_threads);
        Validators.Add(r =>
        {
            if (r.GetResult(_output) is null) r.AddError("no output given: use -o OUT.gguf");
        });
        SetAction(Execute);
    }

    private int Execute(ParseResult p)
    {
        string output = p.GetValue(_output)!, type = p.GetValue(_type)!;
        var r = Terminal.WithProgress("converting", "weights", progress => HfModelConverter.Convert(p.GetValue(_dir)!, output, type, progress, p.GetValue(_threads)));
        if (r.DroppedTokens.Count > 0)
            Console.Error.WriteLine($"strata: warning: {r.DroppedTokens.Count} added token(s) left out, their ids past the embedding's rows: {string.Join(", ", r.DroppedTokens)}");
        Console.Out.WriteLine($"{output}: {r.Architecture}, {r.Tensors} tensors, {r.Bytes / 1048576.0:F1} MiB, {type}, tokenizer {r.TokenizerModel}/{r.TokenizerPre}");
        return 0;
    }
}
