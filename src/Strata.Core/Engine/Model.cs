using Strata.Gguf;
using Strata.Kv;
using Strata.Models;
using Strata.Tensors;
using Strata.Tokenizers;
using Strata.Weights;

namespace Strata.Engine;

/// <summary>How a model is loaded: threads, context size, KV block size and type.</summary>
public sealed record ModelOptions
{
    /// <summary>Compute threads; 0 means one per core.</summary>
    public int Threads { get; init; }
    /// <summary>Context positions per sequence; 0 means the model's trained context, capped at <see cref="DefaultMaxContext"/>.</summary>
    public int Context { get; init; }
    /// <summary>Sequences whose KV cache fits in memory at once.</summary>
    public int MaxSequences { get; init; } = 1;
    public int KvBlockTokens { get; init; } = KvLayout.DefaultBlockTokens;
    /// <summary>How K and V are stored in every tier and read by attention: f16, or q8_0 at about half the bytes.</summary>
    public KvType KvType { get; init; } = KvType.F16;
    /// <summary>Most tokens per forward call; longer prompts are fed in chunks.</summary>
    public int BatchSize { get; init; } = 256;
    /// <summary>Copy matrices into the layouts the fastest kernels read (Q4_0, Q8_0 and Q4_K today); false computes straight from the file.</summary>
    public bool RepackWeights { get; init; } = true;
    /// <summary>Tiled attention with online softmax (default); false runs the plain two-pass form, to compare.</summary>
    public bool TiledAttention { get; init; } = true;
    /// <summary>The tiered KV cache: DRAM size, far memory, the ssd directory, the eviction policy.</summary>
    public KvCacheOptions Kv { get; init; } = new();

    public const int DefaultMaxContext = 4096;
}

/// <summary>
/// A loaded model: the mapped file, its hyper-parameters, weights, tokenizer, the forward pass and a KV block pool.
/// The one object a front end (CLI, server, library user) holds.
/// </summary>
public sealed class Model : IDisposable
{
    private readonly GgufFile _file;
    private readonly IWeightSource _weights;
    private readonly WeightPacker _packer;

    public string Path { get; }
    public GgufFile File => _file;
    public ModelConfig Config { get; }
    public Tokenizer Tokenizer { get; }
    public Transformer Transformer { get; }
    /// <summary>The tiered, content-addressed KV cache shared by every sequence of this model.</summary>
    public KvCacheManager KvCache { get; }
    public KvBlockPool KvPool => KvCache.Pool;
    public int Context { get; }

    private Model(string path, GgufFile file, ModelOptions o)
    {
        Path = path;
        _file = file;
        Config = ModelConfig.FromGguf(file);
        Tokenizer = Tokenizer.FromGguf(file.Metadata);
        if (Tokenizer.Vocabulary.Count != Config.VocabSize)
            throw new GgufFormatException($"{System.IO.Path.GetFileName(path)}: the tokenizer has {Tokenizer.Vocabulary.Count} tokens but token_embd.weight has {Config.VocabSize} rows");
        // Cheap checks first: nothing is packed or allocated for options that cannot work.
        Context = o.Context > 0 ? o.Context : Math.Min(Config.ContextLength, ModelOptions.DefaultMaxContext);
        if (o.Context < 0 || Context > 1 << 20) throw new StrataException($"context size {o.Context} is out of range");
        int threads = o.Threads > 0 ? o.Threads : Environment.ProcessorCount;
        if (o.KvType == KvType.Q8_0 && Config.HeadDim % KvTypeInfo.Q8Block != 0)
            throw new StrataException($"--kv-type q8_0 needs a head size that is a multiple of {KvTypeInfo.Q8Block}; this model's is {Config.HeadDim}");
        var layout = new KvLayout(Config.Layers, Config.KvDim, o.KvBlockTokens, o.KvType);
        int blocksPerSequence = (Context + layout.BlockTokens - 1) / layout.BlockTokens;

        _weights = new GgufWeightSource(file);
        _packer = new WeightPacker(o.RepackWeights, sourceIsFileMapping: true);
        ComputePool? pool = null;
        try
        {
            var weights = ModelWeights.Load(_weights, Config, System.IO.Path.GetFileName(path), _packer);
            pool = new ComputePool(threads);
            Transformer = new Transformer(Config, weights, pool, Math.Clamp(o.BatchSize, 1, 4096), Context, o.TiledAttention);
            KvCache = KvCacheBuilder.Build(file, Config, layout, o.Kv, blocksPerSequence * Math.Max(1, o.MaxSequences), System.IO.Path.GetFileName(path));
        }
        catch
        {
            // Repacked weights live in native memory and the pool owns threads: neither may outlive a failed load.
            pool?.Dispose();
            _packer.Dispose();
            throw;
        }
    }

    /// <summary>Opens and validates a GGUF model; failures are <see cref="StrataException"/>s with a one-line message.</summary>
    public static Model Load(string path, ModelOptions? options = null)
    {
        var file = GgufFile.Open(path);
        try
        {
            return new Model(path, file, options ?? new ModelOptions());
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>A fresh, empty KV cache for one sequence of up to <see cref="Context"/> positions.</summary>
    public KvSequence NewSequence() => KvCache.NewSequence(Context);

    /// <summary>Tokenizes a prompt as llama.cpp's tools do: BOS as the model asks, special tokens written in the text parsed.</summary>
    public int[] Tokenize(string text, bool addSpecial = true, bool parseSpecial = true) =>
        Tokenizer.Encode(text, addSpecial, parseSpecial);

    public void Dispose()
    {
        Transformer.Pool.Dispose();
        KvCache.Dispose();
        _packer.Dispose();
        _weights.Dispose();
        _file.Dispose();
    }
}
