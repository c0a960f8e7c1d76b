using System.CommandLine;
using Strata.Gguf;
using Strata.Tokenizers;

namespace Strata.Cli.Commands;

/// <summary><c>strata tokenize</c>: the ids the model's tokenizer gives for a text. Loads only the vocabulary.</summary>
internal sealed class TokenizeCommand : Command
{
    private readonly Argument<string?> _text = new("TEXT") { Description = "the text (quote it), or give it with -p", Arity = ArgumentArity.ZeroOrOne };
    private readonly Option<string?> _model = CommonOptions.Model();
    private readonly Option<string?> _prompt = new("--prompt", "-p") { Description = "the text, instead of TEXT", HelpName = "TEXT" };
    private readonly Option<bool> _json = CommonOptions.Json("print the ids as a JSON array");
    private readonly Option<bool> _noBos = new("--no-bos") { Description = "do not add BOS (or other special tokens the model adds)" };
    private readonly Option<bool> _noParseSpecial = new("--no-parse-special") { Description = "tokenize special-token text such as <s> as plain text" };
    private readonly Option<bool> _showPieces = new("--show-pieces") { Description = "print each id with the text it stands for" };

    public TokenizeCommand() : base("tokenize", "print the token ids of TEXT (BOS included when the model adds it)")
    {
        Add(_text);
        foreach (var o in new Option[] { _model, _prompt, _json, _noBos, _noParseSpecial, _showPieces }) Add(o);
        Validators.Add(r =>
        {
            bool hasText = r.GetResult(_text) is { Tokens.Count: > 0 }, hasPrompt = r.GetResult(_prompt) is not null;
            if (hasText && hasPrompt) r.AddError("give the text once: as TEXT or with -p");
            else if (!hasText && !hasPrompt) r.AddError("no text given: strata tokenize -m MODEL TEXT");
        });
        SetAction(Execute);
    }

    private int Execute(ParseResult p)
    {
        string text = p.GetValue(_prompt) ?? p.GetValue(_text)!;
        using var file = GgufFile.Open(CommonOptions.ModelPath(p.GetValue(_model)));
        var tokenizer = Tokenizer.FromGguf(file.Metadata);
        var ids = tokenizer.Encode(text, addSpecial: !p.GetValue(_noBos), parseSpecial: !p.GetValue(_noParseSpecial));
        if (p.GetValue(_json)) Console.WriteLine("[" + string.Join(",", ids) + "]");
        else if (p.GetValue(_showPieces))
            foreach (int id in ids) Console.WriteLine($"{id,7} -> '{tokenizer.Decode([id], special: true)}'");
        else Console.WriteLine(string.Join(" ", ids));
        return 0;
    }
}
