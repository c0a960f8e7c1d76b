using Strata.Grammar;

namespace Strata.Tests.Grammar;

public class GbnfTests
{
    /// <summary>llama.cpp's grammars/json.gbnf, as that project ships it (multi-line rules inside parentheses, comments).</summary>
    public const string LlamaJson = """
        root   ::= object
        value  ::= object | array | string | number | ("true" | "false" | "null") ws

        object ::=
          "{" ws (
                    string ":" ws value
            ("," ws string ":" ws value)*
          )? "}" ws

        array  ::=
          "[" ws (
                    value
            ("," ws value)*
          )? "]" ws

        string ::=
          "\"" (
            [^"\\\x7F\x00-\x1F] |
            "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
          )* "\"" ws

        number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

        # Optional space: by convention, applied in this grammar after literal chars when allowed
        ws ::= | " " | "\n" [ \t]{0,20}
        """;

    private static Strata.Grammar.Grammar G(string text) => Gbnf.Parse(text);

    [Fact]
    public void LlamaCppJsonGrammarAcceptsJsonAndRejectsTheRest()
    {
        var g = G(LlamaJson);
        Assert.True(g.Matches("""{"a": [1, 2.5, -3e4, true, null, "x\"y\u00e9"], "b": {}}"""));
        Assert.True(g.Matches("{\n  \"k\": \"é漢字😀\"\n}"));
        Assert.False(g.Matches("""{"a": 01x}"""));
        Assert.False(g.Matches("""{"a" 1}"""));
        Assert.False(g.Matches("[1, 2]"));                     // root is an object
        Assert.False(g.Matches("{\"a\": \"\u0001\"}"));        // control character unescaped
        Assert.True(g.IsPrefix("""{"a": [1, 2"""));
        Assert.False(g.IsPrefix("""{"a": ]"""));
    }

    [Theory]
    [InlineData("root ::= \"ab\"{3}", "ababab", true)]
    [InlineData("root ::= \"ab\"{3}", "abab", false)]
    [InlineData("root ::= \"a\"{2,}", "a", false)]
    [InlineData("root ::= \"a\"{2,}", "aaaaaaa", true)]
    [InlineData("root ::= \"a\"{1,3}", "aaa", true)]
    [InlineData("root ::= \"a\"{1,3}", "aaaa", false)]
    [InlineData("root ::= \"a\"{1,3}", "", false)]
    [InlineData("root ::= \"a\"{,2} \"b\"", "aab", true)]
    [InlineData("root ::= \"a\"{,2} \"b\"", "b", true)]
    [InlineData("root ::= \"a\"{ 0 , 2 } \"b\"", "aaab", false)]
    [InlineData("root ::= (\"x\" | \"yz\")* \"!\"", "xyzx!", true)]
    [InlineData("root ::= (\"x\" | \"yz\")+ \"!\"", "!", false)]
    [InlineData("root ::= \"a\"? \"b\"", "b", true)]
    [InlineData("root ::= [a-c]+ [^a-c]", "abcd", true)]
    [InlineData("root ::= [a-c]+ [^a-c]", "abca", false)]
    [InlineData("root ::= . .", "é😀", true)]
    [InlineData("root ::= . .", "é", false)]
    [InlineData("root ::= [\\u00e0-\\u00ff]", "é", true)]
    [InlineData("root ::= [\\x00-\\x7F]", "é", false)]
    [InlineData("root ::= \"\\x41\\u00e9\\U0001F600\\n\\t\\\\\\\"\"", "Aé😀\n\t\\\"", true)]
    [InlineData("root ::= [\\]\\[-]", "]", true)]
    [InlineData("root ::= [-a]", "-", true)]
    [InlineData("root ::= [a-]", "-", true)]
    [InlineData("root ::= ()", "", true)]
    [InlineData("root ::= \"a\" | ", "", true)]
    [InlineData("root ::= a a\na ::= \"x\" # comment\n# another\n", "xx", true)]
    [InlineData("root ::= \"a\"\n    \"b\"", "ab", true)]       // a continuation line (llama.cpp needs parentheses for this)
    [InlineData("root ::= \"a\"\n  | \"b\"", "b", true)]
    [InlineData("root ::= item (\",\" item)*\nitem ::= [0-9]+", "1,22,333", true)]
    [InlineData("root ::= r\nr ::= \"(\" r \")\" | \"\"", "((()))", true)]
    [InlineData("root ::= r\nr ::= \"(\" r \")\" | \"\"", "(()", false)]
    [InlineData("root ::= r\nr ::= \"x\" r | \"y\"", "xxxxxxxxy", true)]
    public void Matches(string grammar, string text, bool expected) => Assert.Equal(expected, G(grammar).Matches(text));

    [Fact]
    public void RightRecursionRunsInBoundedStacks()
    {
        // Tail calls push nothing: a long right-recursive list matches without hitting the depth bound.
        var g = G("root ::= list\nlist ::= \"a\" list | \"\"");
        Assert.True(g.Matches(new string('a', 5000)));
    }

    [Fact]
    public void NestingIsBoundedNotAStackOverflow()
    {
        var g = G("root ::= v\nv ::= \"[\" v \"]\" | \"0\"");
        Assert.True(g.Matches(new string('[', 500) + "0" + new string(']', 500)));
        // Beyond the bound of nested calls the matcher refuses instead of growing.
        Assert.False(g.IsPrefix(new string('[', GrammarDfa.MaxDepth + 10)));
    }

    [Theory]
    [InlineData("root ::= foo", "GBNF 1:10: undefined rule 'foo'")]
    [InlineData("root ::= \"a\"\nx ::= (\"b\" | bar)", "GBNF 2:14: undefined rule 'bar'")]
    [InlineData("root ::= (\"a\" \"b\"", "GBNF 1:10: unbalanced parenthesis: '(' is never closed")]
    [InlineData("root ::= \"a\" )", "GBNF 1:14: unbalanced parenthesis: ')' without a matching '('")]
    [InlineData("root ::= \"abc", "GBNF 1:10: unterminated string literal")]
    [InlineData("root ::= [abc", "GBNF 1:10: unterminated character class")]
    [InlineData("root ::= [z-a]", "GBNF 1:11: character range z-a is out of order")]
    [InlineData("root ::= \"\\q\"", "GBNF 1:11: unknown escape '\\q'")]
    [InlineData("root ::= \"\\x4\"", "needs 2 hexadecimal digits")]
    [InlineData("root ::= * \"a\"", "GBNF 1:10: '*' has nothing before it to repeat")]
    [InlineData("root ::= \"a\"{3,2}", "maximum below its minimum")]
    [InlineData("root ::= \"a\"{1000000}", "larger than 100000")]
    [InlineData("root ::= \"a\"{2", "expected '}' to close the repetition")]
    [InlineData("root = \"a\"", "GBNF 1:6: expected '::=' after rule name 'root'")]
    [InlineData("a ::= \"x\"", "the grammar has no 'root' rule")]
    [InlineData("", "the grammar is empty")]
    [InlineData("# only a comment\n", "the grammar is empty")]
    [InlineData("root ::= \"a\"\nroot ::= \"b\"", "GBNF 2:1: rule 'root' is already defined at 1:1")]
    [InlineData("root ::= \"a\" b ::= \"c\"", "'b ::=' must start on a new line")]
    [InlineData("root ::= \"a\" @", "GBNF 1:14: unexpected '@'")]
    [InlineData("root ::= root \"a\" | \"b\"", "rule 'root' is left-recursive (root -> root")]
    [InlineData("root ::= a\na ::= b \"x\"\nb ::= \"\" | a", "is left-recursive (a -> b -> a")]
    [InlineData("root ::= a\na ::= n a \"x\" | \"y\"\nn ::= \"z\"?", "rule 'a' is left-recursive (a -> a")]
    [InlineData("root ::= \"a\"{1000}{1000}", "more than 1,000,000 automaton states")]
    public void ErrorsSayWhatAndWhere(string grammar, string message)
    {
        var e = Assert.Throws<GrammarException>(() => Gbnf.Parse(grammar));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void DeepParenthesesAreAnErrorNotAStackOverflow()
    {
        string deep = "root ::= " + new string('(', 100_000) + "\"a\"" + new string(')', 100_000);
        var e = Assert.Throws<GrammarException>(() => Gbnf.Parse(deep));
        Assert.Contains("nested deeper than 256", e.Message);
    }

    [Fact]
    public void ToStringReadsBackToTheSameLanguage()
    {
        var g = G(LlamaJson);
        var again = G(g.ToString());
        foreach (var text in new[] { """{"a": [1, {"b": null}], "c": "\u00e9\n"}""", "{}", """{"a" : 1}""", "{\"x\":\"\\q\"}", "[1]" })
            Assert.Equal(g.Matches(text), again.Matches(text));
        Assert.Equal(again.ToString(), G(again.ToString()).ToString());
    }
}

public class GrammarBoundsTests
{
    [Fact]
    public void PastItsStateLimitTheAutomatonStartsAfreshAndStillMatches()
    {
        // Every position of a long bounded repetition is its own state: more than the table keeps.
        int n = GrammarDfa.MaxStates + 5000;
        var g = Gbnf.Parse($"root ::= \"a\"{{0,{n}}} \"b\"");
        Assert.True(g.Matches(new string('a', n) + "b"));
        Assert.False(g.Matches(new string('a', n + 1) + "b"));
        Assert.True(g.Dfa.Flushes > 0);
        Assert.True(g.Dfa.StateCount <= GrammarDfa.MaxStates + 1);
    }
}
