using Strata.Engine;
using Strata.Engine.Serving;
using Strata.Grammar;
using Strata.Kv;
using Strata.Sampling;
using Strata.Tests.Support;

namespace Strata.Tests.Grammar;

/// <summary>
/// Random-weight models produce arbitrary text: exactly what constrained decoding must tame. Whatever the weights and
/// the seed, every output must parse and validate against the schema, and end when the JSON is complete.
/// </summary>
public class GrammarGenerationTests
{
    private static readonly ModelSpec[] Models =
    [
        new("llama", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 300, Context: 2048),
        new("qwen3", Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 96, Vocab: 4000, Seed: 7, Context: 2048),
    ];

    private static SamplerOptions Temperature1(ulong seed) => new() { Temperature = 1, TopK = 0, TopP = 1, MinP = 0, Seed = seed };

    [Fact]
    public void EveryOutputOfARandomModelParsesAndValidates()
    {
        using var dir = new TempDir();
        foreach (var spec in Models)
        {
            using var model = Model.Load(TestModels.Write(spec, dir.Path), new ModelOptions { Threads = 2, Context = spec.Context });
            var grammar = TokenGrammar.Get(JsonSchemaGrammar.ToGbnf(TokenGrammarTests.NestedSchema), model.Tokenizer, model.Config.VocabSize);
            var prompt = TestModels.RandomTokens(spec.Vocab, 12, 5);
            using var generator = new Generator(model);
            for (ulong seed = 1; seed <= 6; seed++)
            {
                var r = generator.Generate(prompt, new GenerationOptions { MaxTokens = 1500, Sampling = Temperature1(seed), Grammar = grammar });
                Assert.True(r.StopReason == StopReason.EndOfGeneration, $"{spec} seed {seed}: stopped by {r.StopReason} after {r.Tokens.Length} tokens: {r.Text}");
                Assert.Null(SchemaValidator.Validate(TokenGrammarTests.NestedSchema, r.Text));
            }
        }
    }

    [Fact]
    public void GreedyAndPenalisedSamplingStayInsideTheGrammarToo()
    {
        using var dir = new TempDir();
        var spec = Models[0];
        using var model = Model.Load(TestModels.Write(spec, dir.Path), new ModelOptions { Threads = 2, Context = spec.Context });
        string schema = """{"type":"object","properties":{"ok":{"type":"boolean"},"n":{"type":"integer","minimum":-5,"maximum":5}},"required":["ok","n"],"additionalProperties":false}""";
        var grammar = TokenGrammar.Get(JsonSchemaGrammar.ToGbnf(schema), model.Tokenizer, model.Config.VocabSize);
        using var generator = new Generator(model);
        foreach (var sampling in new[] { SamplerOptions.Greedy, new SamplerOptions { Temperature = 0.7f, RepeatPenalty = 1.5f, PresencePenalty = 1, Seed = 3 } })
        {
            var r = generator.Generate(TestModels.RandomTokens(spec.Vocab, 8, 2), new GenerationOptions { MaxTokens = 400, Sampling = sampling, Grammar = grammar });
            Assert.Equal(StopReason.EndOfGeneration, r.StopReason);
            Assert.Null(SchemaValidator.Validate(schema, r.Text));
        }
    }

    [Fact]
    public void AGbnfGrammarConstrainsTheText()
    {
        using var dir = new TempDir();
        var spec = Models[0];
        using var model = Model.Load(TestModels.Write(spec, dir.Path), new ModelOptions { Threads = 2, Context = spec.Context });
        var g = Gbnf.Parse("root ::= (\"yes\" | \"no\") \", because \" [a-z ]{3,20} \".\"");
        var grammar = TokenGrammar.Compile(g, model.Tokenizer, model.Config.VocabSize);
        using var generator = new Generator(model);
        for (ulong seed = 1; seed <= 5; seed++)
        {
            var r = generator.Generate(TestModels.RandomTokens(spec.Vocab, 8, (int)seed), new GenerationOptions { MaxTokens = 200, Sampling = Temperature1(seed), Grammar = grammar });
            Assert.Matches("^(yes|no), because [a-z ]{3,20}\\.$", r.Text);
            Assert.Equal(StopReason.EndOfGeneration, r.StopReason);
        }
    }

    [Fact]
    public async Task EngineChoicesEachFollowTheGrammarThroughPreemption()
    {
        using var dir = new TempDir();
        var spec = Models[0];
        string path = TestModels.Write(spec, dir.Path);
        // DRAM for one context (128 blocks): three choices of some 350 tokens past a 1200-token prompt cannot all
        // fit, so sequences are preempted and resumed.
        int blockBytes = new KvLayout(spec.Layers, spec.Dim / spec.Heads * spec.KvHeads, 16).BlockBytes;
        using var model = Model.Load(path, new ModelOptions { Threads = 2, Context = spec.Context, Kv = new KvCacheOptions { DramBytes = 128 * blockBytes, FarBytes = 512L * blockBytes } });
        using var engine = new InferenceEngine(model, new EngineOptions { MaxRunning = 3 });
        var grammar = TokenGrammar.Get(JsonSchemaGrammar.ToGbnf(TokenGrammarTests.NestedSchema), model.Tokenizer, model.Config.VocabSize);
        var request = new InferenceRequest
        {
            Prompt = TestModels.RandomTokens(spec.Vocab, 1200, 9),
            Choices = 3,
            Generation = new GenerationOptions { MaxTokens = 800, Sampling = Temperature1(21), Grammar = grammar },
        };
        var text = new string[3];
        var reasons = new StopReason[3];
        await foreach (var e in engine.RunAsync(request))
        {
            if (e is TokenEvent t) text[t.Choice] += t.Text;
            else if (e is FinishEvent f) { text[f.Choice] += f.Text; reasons[f.Choice] = f.Reason; }
            else if (e is ErrorEvent err) Assert.Fail(err.Message);
        }
        for (int c = 0; c < 3; c++)
        {
            Assert.Equal(StopReason.EndOfGeneration, reasons[c]);
            Assert.Null(SchemaValidator.Validate(TokenGrammarTests.NestedSchema, text[c]));
        }
        Assert.Equal(3, text.Distinct().Count());
        Assert.True(engine.Preemptions > 0, "the test meant to preempt but nothing was");
    }
}
