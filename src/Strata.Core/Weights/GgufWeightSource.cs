using Strata.Gguf;

namespace Strata.Weights;

/// <summary>Weights read in place from a memory-mapped GGUF file: the OS pages them in on first use, nothing is copied.</summary>
public sealed class GgufWeightSource : IWeightSource
{
    private readonly GgufFile _file;
    private readonly bool _ownsFile;

    public GgufWeightSource(GgufFile file, bool ownsFile = false)
    {
        _file = file;
        _ownsFile = ownsFile;
    }

    public WeightTensor? TryGet(string name) =>
        _file.FindTensor(name) is { } t ? new WeightTensor(t.Name, t.Type, t.Shape, _file.TensorPointer(t), t.ByteSize) : null;

    public void Dispose()
    {
        if (_ownsFile) _file.Dispose();
    }
}
