namespace Strata.Kv.Replay;

/// <summary>
/// Retrieval-augmented prompts: a shared instruction, k distinct Zipf-popular documents in rank order, then a
/// unique question. A document is reusable only after the same instruction and the same earlier documents: the
/// prefix trie gives it a different id after any other sequence, which is why RAG reuses so little by prefix.
/// </summary>
internal static class RagGenerator
{
    public static void Generate(GeneratedTrace trace, GeneratorContext ctx, int requests, Random rng, RagOptions o)
    {
        Validate(o);
        long instruction = ctx.NewSource();
        long firstDoc = ctx.NewSources(o.Documents);
        var lengths = new int[o.Documents];
        for (int d = 0; d < lengths.Length; d++) lengths[d] = DocumentTokens(rng, o);
        var popularity = new Zipf(o.Documents, o.ZipfExponent);
        var segments = new List<PromptSegment>(o.DocumentsPerQuery + 2);
        double time = 0;
        for (int i = 0; i < requests; i++)
        {
            segments.Clear();
            segments.Add(new PromptSegment(instruction, 0, o.InstructionTokens));
            var docs = new int[o.DocumentsPerQuery];
            bool oneOff = rng.NextDouble() < o.OneOffFraction;
            for (int k = 0; k < docs.Length; k++)
            {
                if (oneOff)
                {
                    docs[k] = -1;
                    segments.Add(new PromptSegment(ctx.NewSource(), 0, DocumentTokens(rng, o)));
                    continue;
                }
                docs[k] = Distinct(popularity, rng, docs, k);
                segments.Add(new PromptSegment(firstDoc + docs[k], 0, lengths[docs[k]]));
            }
            segments.Add(new PromptSegment(ctx.NewSource(), 0, TraceRandom.LogNormal(rng, o.MedianQueryTokens, 0.8, 1, 4096)));
            long[] ids = PromptBlocks.Ids(segments, ctx.Trie, out int tokens);
            int output = TraceRandom.LogNormal(rng, o.MedianOutputTokens, 1.0, 1, 8192);
            trace.Add(new TraceRequest(GeneratorContext.Ms(time), tokens, output, ids), -1, docs);
            time += TraceRandom.Exponential(rng, 1 / o.RequestsPerSecond);
        }
    }

    private static int DocumentTokens(Random rng, RagOptions o) => TraceRandom.LogNormal(rng, o.MedianDocumentTokens, 0.7, 64, 16_384);

    // A retriever returns distinct documents; redraw on a repeat (Validate keeps k below the corpus size).
    private static int Distinct(Zipf popularity, Random rng, int[] docs, int count)
    {
        while (true)
        {
            int d = popularity.Sample(rng);
            if (Array.IndexOf(docs, d, 0, count) < 0) return d;
        }
    }

    private static void Validate(RagOptions o)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.RequestsPerSecond, nameof(o.RequestsPerSecond));
        ArgumentOutOfRangeException.ThrowIfNegative(o.InstructionTokens, nameof(o.InstructionTokens));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.Documents, nameof(o.Documents));
        ArgumentOutOfRangeException.ThrowIfNegative(o.ZipfExponent, nameof(o.ZipfExponent));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.MedianDocumentTokens, nameof(o.MedianDocumentTokens));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.DocumentsPerQuery, nameof(o.DocumentsPerQuery));
        // Distinct draws from a Zipf head slow down as k nears the corpus size.
        ArgumentOutOfRangeException.ThrowIfGreaterThan(o.DocumentsPerQuery, o.Documents / 2 + 1, nameof(o.DocumentsPerQuery));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.MedianQueryTokens, nameof(o.MedianQueryTokens));
        if (o.OneOffFraction is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(o.OneOffFraction));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(o.MedianOutputTokens, nameof(o.MedianOutputTokens));
    }
}
