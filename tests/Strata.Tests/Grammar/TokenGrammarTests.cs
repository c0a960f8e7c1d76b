using System.Numerics;
using System.Text;
using Strata.Grammar;
using Strata.Tokenizers;

namespace Strata.Tests.Grammar;

/// <summary>The token-level matcher on the real Llama 2, Llama 3 and Qwen3 vocabularies.</summary>
public class TokenGrammarTests
{
    /// <summary>A nested schema with every kind of value, bounded so that any walk through it ends.</summary>
    public const string NestedSchema = GrammarSamples.NestedSchema;

    public static IEnumerable<object[]> Vocabularies => RealVocabularies.All.Select(v => new object[] { v.Name });

    private static TokenGrammar Compile(Tokenizer tok, string schema) =>
        TokenGrammar.Get(JsonSchemaGrammar.ToGbnf(schema), tok, VocabSize(tok));

    private static int VocabSize(Tokenizer tok) => tok.Vocabulary.Count;

    private static List<int> Allowed(GrammarMatcher m, int vocab)
    {
        var bits = new ulong[(vocab + 63) / 64];
        m.FillMask(bits);
        var list = new List<int>();
        for (int w = 0; w < bits.Length; w++)
            for (ulong x = bits[w]; x != 0; x &= x - 1) list.Add(w * 64 + BitOperations.TrailingZeroCount(x));
        return list;
    }

    /// <summary>Walks the grammar choosing uniformly among the allowed tokens (a random model, in effect).</summary>
    private static (string Text, List<int> Tokens, bool Complete) RandomWalk(Tokenizer tok, TokenGrammar g, int seed, Action<GrammarMatcher, int>? atEachStep = null, int maxTokens = 4000)
    {
        var rng = new Random(seed);
        var m = g.NewMatcher();
        var tokens = new List<int>();
        var bytes = new List<byte>();
        for (int step = 0; step < maxTokens && !m.IsComplete; step++)
        {
            atEachStep?.Invoke(m, step);
            var allowed = Allowed(m, g.VocabSize);
            Assert.NotEmpty(allowed);
            int t = allowed[rng.Next(allowed.Count)];
            Assert.True(m.Accept(t), $"the matcher refused token {t} from its own mask");
            if (m.Ended) break;
            tokens.Add(t);
            bytes.AddRange(tok.TokenBytes(t));
        }
        return (Encoding.UTF8.GetString(bytes.ToArray()), tokens, m.IsComplete);
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void RandomTokenWalksAlwaysGiveJsonThatValidates(string vocab)
    {
        var tok = RealVocabularies.Get(vocab);
        var g = Compile(tok, NestedSchema);
        for (int seed = 0; seed < 6; seed++)
        {
            var (text, tokens, complete) = RandomWalk(tok, g, seed);
            Assert.True(complete, $"seed {seed}: not complete after {tokens.Count} tokens: {text}");
            Assert.Null(SchemaValidator.Validate(NestedSchema, text));
        }
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void MasksAgreeWithCheckingEveryTokenByItsBytes(string vocab)
    {
        var tok = RealVocabularies.Get(vocab);
        var g = Compile(tok, NestedSchema);
        int checkedStates = 0;
        var check = new HashSet<int> { 0, 1, 2, 3, 6, 9, 14, 20, 30, 45 };
        RandomWalk(tok, g, seed: 11, (m, step) =>
        {
            if (!check.Contains(step)) return;
            checkedStates++;
            var allowed = Allowed(m, g.VocabSize).ToHashSet();
            for (int t = 0; t < g.VocabSize; t++)
                Assert.True(allowed.Contains(t) == m.AllowsByBytes(t), $"step {step}, token {t} ({Escape(tok.TokenBytes(t, special: true))}): mask says {allowed.Contains(t)}");
        });
        Assert.True(checkedStates >= 5);
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void TokensEndingInsideACharacterCarryTheMatchAcross(string vocab)
    {
        // A string of CJK characters spelled with tokens that split characters wherever the vocabulary has them.
        var tok = RealVocabularies.Get(vocab);
        var g = TokenGrammar.Get("root ::= \"\\\"\" [\\u4e00-\\u9fff]{2,} \"\\\"\"", tok, VocabSize(tok));
        var m = g.NewMatcher();
        var pieces = Enumerable.Range(0, tok.Vocabulary.Count).Select(t => (Id: t, Bytes: tok.TokenBytes(t))).ToList();
        var partial = pieces.Where(p => p.Bytes.Length is > 0 and < 3 && p.Bytes.All(b => b >= 0x80)).Select(p => p.Id).ToHashSet();
        Assert.True(m.Accept(pieces.First(p => p.Bytes is [(byte)'"']).Id));
        // 中 is E4 B8 AD: find tokens for a split of it, if the vocabulary has one, else whole characters.
        int lead = pieces.FindIndex(p => p.Bytes.SequenceEqual(new byte[] { 0xE4 }));
        var allowed = Allowed(m, g.VocabSize).ToHashSet();
        if (lead >= 0)
        {
            Assert.Contains(lead, allowed);
            Assert.True(m.Accept(lead));
            var rest = pieces.First(p => p.Bytes.SequenceEqual(new byte[] { 0xB8 }) || p.Bytes.SequenceEqual(new byte[] { 0xB8, 0xAD })).Id;
            allowed = Allowed(m, g.VocabSize).ToHashSet();
            Assert.Contains(rest, allowed);
            Assert.DoesNotContain(pieces.First(p => p.Bytes is [(byte)'"']).Id, allowed);          // not inside a character
            Assert.DoesNotContain(pieces.First(p => p.Bytes.SequenceEqual(new byte[] { 0xE4 })).Id, allowed); // a lead byte cannot follow a lead byte
            Assert.All(allowed, t => Assert.True(tok.TokenBytes(t)[0] is >= 0x80 and <= 0xBF, $"token {t} does not continue the character"));
        }
        Assert.NotEmpty(partial);
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void ControlTokensNeverAndEndOfGenerationOnlyWhereTheGrammarCanEnd(string vocab)
    {
        var tok = RealVocabularies.Get(vocab);
        var v = tok.Vocabulary;
        var g = TokenGrammar.Get("root ::= \"ok\" \"!\"?", tok, VocabSize(tok));
        var m = g.NewMatcher();
        var control = Enumerable.Range(0, v.Count).Where(t => v.IsControl(t) && !v.IsEndOfGeneration(t)).ToList();
        Assert.NotEmpty(control);
        var start = Allowed(m, g.VocabSize);
        Assert.DoesNotContain(start, t => v.IsEndOfGeneration(t) || v.IsControl(t));
        foreach (var t in start) Assert.StartsWith("o", Encoding.UTF8.GetString(tok.TokenBytes(t)));
        int Piece(string text) => Enumerable.Range(0, v.Count).First(t => tok.TokenBytes(t).SequenceEqual(Encoding.UTF8.GetBytes(text)));
        Assert.True(m.Accept(Piece("o")));
        Assert.True(m.Accept(Piece("k")));
        Assert.True(m.CanEnd);
        Assert.False(m.IsComplete);
        var end = Allowed(m, g.VocabSize);
        Assert.Contains(end, v.IsEndOfGeneration);
        Assert.DoesNotContain(end, t => control.Contains(t));
        Assert.True(m.Accept(Piece("!")));
        Assert.True(m.IsComplete);
        Assert.Equal(v.EndOfGeneration.Where(t => t < g.VocabSize).Order(), Allowed(m, g.VocabSize));
    }

    /// <summary>
    /// A control token given as text (a chat format's call marker) is a piece like any other for that grammar only:
    /// allowed where the grammar's literal is its text, and the same token stays forbidden to grammars without it.
    /// </summary>
    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void ControlTokensGivenAsTextMatchTheirText(string vocab)
    {
        var tok = RealVocabularies.Get(vocab);
        var v = tok.Vocabulary;
        int marker = Enumerable.Range(0, v.Count).First(t => v.IsControl(t) && !v.IsEndOfGeneration(t) && t != v.Bos && tok.TokenBytes(t, special: true).Length > 0);
        string text = Encoding.UTF8.GetString(tok.TokenBytes(marker, special: true));
        string gbnf = $"root ::= \"{text.Replace("\\", "\\\\").Replace("\"", "\\\"")}\" \"ok\"";
        var asText = new HashSet<int> { marker };
        var g = TokenGrammar.Get(gbnf, tok, VocabSize(tok), asText);
        var m = g.NewMatcher();
        Assert.Contains(marker, Allowed(m, g.VocabSize));
        Assert.True(m.Accept(marker));
        Assert.All(Allowed(m, g.VocabSize), t => Assert.StartsWith("o", Encoding.UTF8.GetString(tok.TokenBytes(t))));

        var plain = TokenGrammar.Get(gbnf, tok, VocabSize(tok));
        Assert.NotSame(g, plain);
        Assert.DoesNotContain(marker, Allowed(plain.NewMatcher(), plain.VocabSize));
    }

    [Fact]
    public void PaddingRowsBeyondTheTokenizerAreNeverAllowed()
    {
        var tok = RealVocabularies.Get("qwen3");
        Assert.True(tok.Vocabulary.Count <= 151_936);
        var g = TokenGrammar.Get(JsonSchemaGrammar.JsonObjectGbnf, tok, 152_064); // a model with more rows than tokens
        var m = g.NewMatcher();
        Assert.True(m.Accept(Enumerable.Range(0, tok.Vocabulary.Count).First(t => tok.TokenBytes(t).SequenceEqual("{\""u8.ToArray()))));
        Assert.DoesNotContain(Allowed(m, g.VocabSize), t => t >= tok.Vocabulary.Count || tok.Vocabulary.TokenText(t).StartsWith("[PAD", StringComparison.Ordinal));
    }

    [Fact]
    public void TheSameGrammarTextGivesTheSameCompiledGrammar()
    {
        var tok = RealVocabularies.Get("llama2");
        string gbnf = JsonSchemaGrammar.ToGbnf(NestedSchema);
        Assert.Same(TokenGrammar.Get(gbnf, tok, 32000), TokenGrammar.Get(gbnf, tok, 32000));
        Assert.NotSame(TokenGrammar.Get(gbnf, tok, 32000), TokenGrammar.Get(gbnf + "\n", tok, 32000));
        Assert.NotSame(TokenGrammar.Get(gbnf, tok, 32000), TokenGrammar.Get(gbnf, tok, 32064));
    }

    private static string Escape(byte[] b) => string.Concat(b.Select(x => x is >= 0x20 and < 0x7F ? ((char)x).ToString() : $"\\x{x:X2}"));
}
