namespace Strata.Engine;

/// <summary>Where one window's logits come from: call <c>sink(position, logits)</c> for every position ≥ first.</summary>
public delegate void WindowEvaluator(int[] window, int first, Action<int, ReadOnlySpan<float>> sink);

/// <summary>The result of a perplexity run; <see cref="RunningPerplexity"/> holds the estimate after each chunk.</summary>
public sealed record PerplexityResult(int Context, int Chunks, int Tokens, long Scored, double Perplexity, double StandardError, double[] RunningPerplexity);

/// <summary>
/// Perplexity as llama.cpp's perplexity tool defines it: the whole text is tokenized once (BOS first when the model adds
/// it), cut into consecutive windows of n_ctx tokens (the first token of each replaced by BOS when the model adds
/// it), each window evaluated from an empty cache, and only the second half of each window scored — the negative
/// log-likelihood of token j+1 given the logits at j, for j from n_ctx/2 to n_ctx-2. PPL = exp(mean NLL); the error
/// is the standard error of the mean NLL carried through exp.
/// </summary>
public static class Perplexity
{
    public static PerplexityResult Compute(IReadOnlyList<int> tokens, int nCtx, int bos, WindowEvaluator evaluate, Action<int, double>? onChunk = null)
    {
        if (nCtx < 4) throw new StrataException($"context {nCtx} is too small for perplexity (at least 4)");
        if (tokens.Count < 2 * nCtx)
            throw new StrataException($"the text has {tokens.Count} tokens; perplexity with a context of {nCtx} needs at least {2 * nCtx}");
        int chunks = tokens.Count / nCtx;
        int first = nCtx / 2;
        double nll = 0, nll2 = 0;
        long count = 0;
        var running = new double[chunks];
        var window = new int[nCtx];
        for (int c = 0; c < chunks; c++)
        {
            int start = c * nCtx;
            for (int j = 0; j < nCtx; j++) window[j] = tokens[start + j];
            if (bos >= 0) window[0] = bos;
            var w = window;
            evaluate(window, first, (pos, logits) =>
            {
                if (pos < first || pos >= nCtx - 1) return;
                double v = -LogSoftmax(logits, w[pos + 1]); // pos + 1 ≥ 1: never the replaced first token
                nll += v;
                nll2 += v * v;
                count++;
            });
            if (count != (long)(c + 1) * (nCtx - 1 - first))
                throw new InvalidOperationException($"window {c}: {count} positions scored, {(long)(c + 1) * (nCtx - 1 - first)} expected");
            running[c] = Math.Exp(nll / count);
            onChunk?.Invoke(c + 1, running[c]);
        }
        double mean = nll / count, mean2 = nll2 / count;
        double variance = mean2 - mean * mean;
        double ppl = Math.Exp(mean);
        double err = variance > 0 && count > 1 ? Math.Sqrt(variance / (count - 1)) * ppl : 0;
        return new PerplexityResult(nCtx, chunks, tokens.Count, count, ppl, err, running);
    }

    /// <summary>log softmax(logits)[target], with the max subtracted in float and the sum in double as llama.cpp does.</summary>
    public static double LogSoftmax(ReadOnlySpan<float> logits, int target)
    {
        float max = float.NegativeInfinity;
        foreach (float x in logits) if (x > max) max = x;
        double sum = 0;
        foreach (float x in logits) sum += MathF.Exp(x - max);
        return logits[target] - max - Math.Log(sum);
    }

    /// <summary>Perplexity of <paramref name="text"/> under a loaded model (its context must hold <paramref name="nCtx"/> positions).</summary>
    public static PerplexityResult Run(Model model, string text, int nCtx, Action<int, double>? onChunk = null)
    {
        if (nCtx > model.Context) throw new StrataException($"context {nCtx} exceeds the model's loaded context {model.Context}");
        var tokens = model.Tokenize(text, addSpecial: true, parseSpecial: false);
        var v = model.Tokenizer.Vocabulary;
        int bos = v.AddBos ? v.Bos : -1;
        int vocab = model.Config.VocabSize;
        int batch = model.Transformer.MaxBatch;
        var logits = new float[batch * vocab];
        return Compute(tokens, nCtx, bos, (window, first, sink) =>
        {
            using var seq = model.NewSequence();
            for (int s = 0; s < window.Length; s += batch)
            {
                int n = Math.Min(batch, window.Length - s);
                model.Transformer.Forward(window.AsSpan(s, n), seq, logits, allLogits: true);
                for (int i = 0; i < n; i++)
                    if (s + i >= first) sink(s + i, logits.AsSpan(i * vocab, vocab));
            }
        }, onChunk);
    }
}
