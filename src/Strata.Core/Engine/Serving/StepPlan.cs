namespace Strata.Engine.Serving;

/// <summary>
/// The work of one step under a token budget: every decoding sequence's next token first (a running stream never
/// waits behind a prompt), then prefill chunks in admission order with what is left, so a long prompt is computed
/// a chunk per step.
/// </summary>
internal static class StepPlan
{
    public static List<(SequenceState Sequence, int Tokens)> Make(IReadOnlyList<SequenceState> running, int budget)
    {
        var plan = new List<(SequenceState, int)>(running.Count);
        foreach (var s in running)
            if (s.Kv is not null && s.Pending == 1)
            {
                plan.Add((s, 1));
                budget--;
            }
        foreach (var s in running.OrderBy(s => s.Admitted))
        {
            if (s.Kv is not null && s.Pending == 1) continue;
            if (budget <= 0) break;
            int n = Math.Min(s.Pending, budget);
            plan.Add((s, n));
            budget -= n;
        }
        return plan;
    }
}

/// <summary>Admission bounded by free KV blocks: a request starts only when its prompt's blocks fit in the pool.</summary>
internal static class Admission
{
    public static bool HasRoom(Kv.KvCacheManager cache, int promptTokens, int choices) =>
        cache.Pool.FreeBlocks >= cache.Layout.BlocksFor(promptTokens + 1) + (choices - 1);
}

/// <summary>Log-probabilities of the chosen token and the best alternatives, from raw logits.</summary>
internal static class Logprobs
{
    public static TokenLogprobs Of(ReadOnlySpan<float> logits, int chosen, int top)
    {
        float max = float.NegativeInfinity;
        foreach (float x in logits) if (x > max) max = x;
        double sum = 0;
        foreach (float x in logits) sum += Math.Exp(x - max);
        float logZ = max + (float)Math.Log(sum);
        var best = new List<(int, float)>(top);
        if (top > 0)
        {
            // A small insertion list: top is at most 20.
            for (int id = 0; id < logits.Length; id++)
            {
                float x = logits[id];
                if (best.Count == top && x <= best[^1].Item2) continue;
                int at = best.Count;
                while (at > 0 && best[at - 1].Item2 < x) at--;
                best.Insert(at, (id, x));
                if (best.Count > top) best.RemoveAt(top);
            }
        }
        return new TokenLogprobs(logits[chosen] - logZ, best.Select(b => (b.Item1, b.Item2 - logZ)).ToArray());
    }
}

/// <summary>
/// The step's token budget, sized to the machine: prefill tokens cost about the same each, so the budget is what fits
/// a target step time at the per-token cost measured on earlier prefill-heavy steps (never below the decode tokens plus
/// a small chunk, never above the configured bound). On a slow CPU this keeps a new prompt from stalling every running
/// stream for seconds; on a fast one it grows to the bound.
/// </summary>
internal sealed class StepBudget(int max, double targetSeconds)
{
    private const int MinChunk = 16;
    private double _secondsPerToken;

    public int Next(int decoding)
    {
        if (targetSeconds <= 0 || _secondsPerToken <= 0) return max;
        int fit = (int)(targetSeconds / _secondsPerToken);
        return Math.Clamp(fit, Math.Min(max, decoding + MinChunk), max);
    }

    public void Observe(int tokens, double seconds)
    {
        if (tokens < MinChunk || seconds <= 0) return; // decode-only steps are bound by weight reads, not tokens
        double perToken = seconds / tokens;
        _secondsPerToken = _secondsPerToken <= 0 ? perToken : 0.7 * _secondsPerToken + 0.3 * perToken;
    }
}
