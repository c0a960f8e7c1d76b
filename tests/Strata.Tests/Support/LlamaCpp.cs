using LLama;
using LLama.Common;
using LLama.Native;

namespace Strata.Tests.Support;

/// <summary>llama.cpp (through LLamaSharp) as the reference implementation: logits per position and greedy continuations.</summary>
public sealed class LlamaCpp : IDisposable
{
    private static readonly object InitLock = new();
    private static bool _initialized;
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;

    public LlamaCpp(string modelPath, int context = 512, int threads = 2)
    {
        QuietNativeLog();
        var p = new ModelParams(modelPath)
        {
            ContextSize = (uint)context,
            BatchSize = (uint)context,
            UBatchSize = (uint)context,
            Threads = threads,
            GpuLayerCount = 0,
        };
        _weights = LLamaWeights.LoadFromFile(p);
        _context = new LLamaContext(_weights, p);
    }

    public static void QuietNativeLog()
    {
        lock (InitLock)
        {
            if (_initialized) return;
            // Works before or after the native library is loaded (other tests may have loaded it first).
            NativeLogConfig.llama_log_set((level, message) => { });
            _initialized = true;
        }
    }

    public int VocabSize => _weights.Vocab.Count;

    public LLamaWeights Weights => _weights;

    /// <summary>Logits after every position of one batch: [tokens][vocab].</summary>
    public float[][] Logits(IReadOnlyList<int> tokens)
    {
        _context.NativeHandle.MemoryClear();
        var batch = new LLamaBatch();
        for (int i = 0; i < tokens.Count; i++) batch.Add((LLamaToken)tokens[i], i, LLamaSeqId.Zero, true);
        var rc = _context.NativeHandle.Decode(batch);
        if (rc != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode: {rc}");
        var result = new float[tokens.Count][];
        for (int i = 0; i < tokens.Count; i++) result[i] = _context.NativeHandle.GetLogitsIth(i).ToArray();
        return result;
    }

    /// <summary>Greedy continuation: the prompt in one batch, then one token at a time.</summary>
    public int[] Greedy(IReadOnlyList<int> prompt, int count)
    {
        _context.NativeHandle.MemoryClear();
        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Count; i++) batch.Add((LLamaToken)prompt[i], i, LLamaSeqId.Zero, i == prompt.Count - 1);
        if (_context.NativeHandle.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException("llama_decode failed");
        var output = new List<int>();
        int pos = prompt.Count;
        int logitIndex = prompt.Count - 1;
        for (int step = 0; step < count; step++)
        {
            var logits = _context.NativeHandle.GetLogitsIth(logitIndex);
            int best = 0;
            for (int j = 1; j < logits.Length; j++) if (logits[j] > logits[best]) best = j;
            output.Add(best);
            batch.Clear();
            batch.Add((LLamaToken)best, pos++, LLamaSeqId.Zero, true);
            if (_context.NativeHandle.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException("llama_decode failed");
            logitIndex = 0;
        }
        return output.ToArray();
    }

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}
