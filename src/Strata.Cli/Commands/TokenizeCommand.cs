using Strata.Gguf;
using Strata.Tokenizers;

namespace Strata.Cli.Commands;

/// <summary><c>strata tokenize</c>: the ids the model's tokenizer gives for a text. Loads only the vocabulary.</summary>
internal static class TokenizeCommand
{
    public static int Execute(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "--json", "--no-bos", "--no-parse-special", "--show-pieces" }, CommandSupport.Aliases);
        string path = CommandSupport.ModelPath(a);
        bool json = a.Flag("--json");
        bool addSpecial = !a.Flag("--no-bos");
        bool parseSpecial = !a.Flag("--no-parse-special");
        bool pieces = a.Flag("--show-pieces");
        string? prompt = a.String("--prompt");
        a.RejectUnknown("tokenize");
        if (prompt is not null && a.Positional.Count > 0) throw new UsageException("give the text once: as TEXT or with -p");
        if (prompt is null && a.Positional.Count != 1)
            throw new UsageException(a.Positional.Count == 0 ? "no text given: strata tokenize -m MODEL TEXT" : "give the text as one argument (quote it)");
        string text = prompt ?? a.Positional[0];

        using var file = GgufFile.Open(path);
        var tokenizer = Tokenizer.FromGguf(file.Metadata);
        var ids = tokenizer.Encode(text, addSpecial, parseSpecial);
        if (json) Console.WriteLine("[" + string.Join(",", ids) + "]");
        else if (pieces)
            foreach (int id in ids) Console.WriteLine($"{id,7} -> '{tokenizer.Decode([id], special: true)}'");
        else Console.WriteLine(string.Join(" ", ids));
        return 0;
    }
}
