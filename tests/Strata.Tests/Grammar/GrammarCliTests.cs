using System.Text.Json;
using Strata.Tests.Support;

namespace Strata.Tests.Grammar;

/// <summary><c>strata run --grammar / --grammar-file / --json-schema</c> on the default model.</summary>
public class GrammarCliTests
{
    private const string Schema = """{"type":"object","properties":{"book":{"enum":["Genesis","Exodus"]},"chapter":{"type":"integer","minimum":1,"maximum":50},"words":{"type":"array","items":{"type":"string","maxLength":8},"maxItems":3}},"required":["book","chapter","words"],"additionalProperties":false}""";

    [Fact]
    public void JsonSchemaConstrainsTheOutput()
    {
        for (int seed = 1; seed <= 2; seed++)
        {
            var r = StrataCli.Run("run", "-p", "In the beginning", "-n", "200", "--seed", seed.ToString(), "--temp", "1", "--json", "--json-schema", Schema);
            Assert.True(r.ExitCode == 0, r.Stderr);
            var result = JsonDocument.Parse(r.Stdout).RootElement;
            Assert.Equal("EndOfGeneration", result.GetProperty("stop_reason").GetString());
            Assert.Null(SchemaValidator.Validate(Schema, result.GetProperty("text").GetString()!));
        }
    }

    [Fact]
    public void GrammarTextAndFile()
    {
        using var dir = new TempDir();
        const string grammar = "root ::= \"And \" word \" \" word \".\"\nword ::= [a-z]{2,8}";
        var r = StrataCli.Run("run", "-p", "In the beginning", "-n", "40", "--temp", "0.8", "--seed", "3", "--grammar", grammar);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Matches("^And [a-z]{2,8} [a-z]{2,8}\\.\n$", r.Stdout);
        string file = Path.Combine(dir.Path, "g.gbnf");
        File.WriteAllText(file, grammar);
        var f = StrataCli.Run("run", "-p", "In the beginning", "-n", "40", "--temp", "0.8", "--seed", "3", "--grammar-file", file);
        Assert.Equal(r.Stdout, f.Stdout);
    }

    [Theory]
    [InlineData(new[] { "--grammar", "root ::= (\"a\"" }, "--grammar: GBNF 1:10: unbalanced parenthesis")]
    [InlineData(new[] { "--json-schema", """{"type":"object","patternProperties":{}}""" }, "--json-schema: unsupported JSON Schema keyword 'patternProperties' at #")]
    [InlineData(new[] { "--json-schema", "{nope" }, "--json-schema: the JSON schema is not valid JSON")]
    [InlineData(new[] { "--grammar", "root ::= \"a\"", "--json-schema", "{}" }, "give one of --grammar, --grammar-file and --json-schema")]
    [InlineData(new[] { "--grammar-file", "/nonexistent/g.gbnf" }, "/nonexistent/g.gbnf")]
    public void BadGrammarsAreOneLineAndExitCode2(string[] args, string message)
    {
        var r = StrataCli.Run(["run", "-p", "x", "-n", "4", .. args]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }
}
