namespace Strata.Kv.Replay;

/// <summary>
/// Tokens [<paramref name="Offset"/>, Offset + <paramref name="Length"/>) of content stream
/// <paramref name="Source"/> (a system prompt, a document, one user message...). Generators build prompts as
/// segment lists and never materialise tokens: block content is identified by the pieces of streams it holds.
/// </summary>
internal readonly record struct PromptSegment(long Source, int Offset, int Length);

/// <summary>Cuts a segment list into 512-token blocks and names each block by its chained-prefix id.</summary>
internal static class PromptBlocks
{
    public const int BlockTokens = TraceGenerator.BlockTokens;

    /// <summary>The prompt's block ids; the last block may be partial and then gets its own content id.</summary>
    public static long[] Ids(List<PromptSegment> segments, PrefixIds trie, out int tokens)
    {
        long total = 0;
        foreach (var s in segments) total += s.Length;
        if (total > int.MaxValue) throw new InvalidOperationException("Prompt longer than int.MaxValue tokens.");
        tokens = (int)total;
        var ids = new long[(tokens + BlockTokens - 1) / BlockTokens];
        long parent = PrefixIds.Root;
        ulong content = Seed;
        int filled = 0, block = 0;
        foreach (var s in segments)
        {
            int offset = s.Offset, left = s.Length;
            while (left > 0)
            {
                int take = Math.Min(left, BlockTokens - filled);
                content = Mix(Mix(Mix(content ^ (ulong)s.Source) ^ (ulong)offset) ^ (ulong)take);
                offset += take;
                left -= take;
                filled += take;
                if (filled == BlockTokens)
                {
                    parent = ids[block++] = trie.Get(parent, content);
                    content = Seed;
                    filled = 0;
                }
            }
        }
        if (filled > 0) ids[block] = trie.Get(parent, content);
        return ids;
    }

    private const ulong Seed = 0x9E3779B97F4A7C15UL;

    // SplitMix64's finaliser: a 64-bit hash of the block's pieces; collisions are ~2^-64 per pair of blocks.
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
