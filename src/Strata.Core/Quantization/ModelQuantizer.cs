using Strata.Gguf;
using Strata.Models;
using Strata.Tensors;

namespace Strata.Quantization;

/// <summary>One tensor of a quantization: its name, the type it had and the type it got.</summary>
public sealed record QuantizedTensor(string Name, GgmlType From, GgmlType To, long[] Shape, long BytesBefore, long BytesAfter);

/// <summary>
/// Rewrites a GGUF model with its weights quantized by a <see cref="QuantMix"/>, as llama.cpp's llama-quantize does:
/// metadata copied with general.file_type and general.quantization_version set, 2-D weights converted row by row
/// (dequantized first when they already are quantized) on all threads, everything else copied. The output is written
/// through a temporary file and renamed into place.
/// </summary>
public static class ModelQuantizer
{
    public static IReadOnlyList<QuantizedTensor> Quantize(string inputPath, string outputPath, QuantMix mix, int threads = 0, Action<long, long>? progress = null)
    {
        if (Path.GetFullPath(inputPath) == Path.GetFullPath(outputPath))
            throw new StrataException("the output must be a different file from the input");
        using var file = GgufFile.Open(inputPath);
        var md = file.Metadata;
        string arch = md.TryGetString(HParamKeys.Architecture) ?? throw new GgufFormatException($"{Path.GetFileName(inputPath)}: general.architecture is missing");
        int layers = (int)(md.TryGetUInt32(HParamKeys.For(HParamKeys.BlockCount, arch)) ?? 0);
        int attnV = file.Tensors.Count(t => t.Name.Contains("attn_v.weight", StringComparison.Ordinal));
        bool hasOutput = file.FindTensor(TensorNames.Output) is not null;

        var w = new GgufWriter();
        foreach (var key in md.Keys)
        {
            if (key is GgufWriter.DataChecksumKey or "split.no" or "split.count" or "split.tensors.count") continue;
            w.Add(key, md.Get(key));
        }
        w.Add("general.quantization_version", 2u);
        w.Add("general.file_type", mix.FileType);

        int nThreads = threads > 0 ? threads : Environment.ProcessorCount;
        var report = new List<QuantizedTensor>();
        long total = file.Tensors.Sum(t => t.ElementCount), done = 0;
        progress?.Invoke(0, total);
        foreach (var t in file.Tensors)
        {
            var type = t.Type;
            if (QuantMix.Quantizes(t.Name, t.Shape.Length))
                type = mix.TypeFor(t.Name, t.Shape[0], layers, attnV, hasOutput);
            var info = t;
            var target = type;
            report.Add(new QuantizedTensor(t.Name, t.Type, type, t.Shape, t.ByteSize, GgufWriter.TensorBytes(t.Name, type, t.Shape)));
            w.AddTensor(t.Name, type, t.Shape, s =>
            {
                if (target == info.Type) CopyTensor(file, info, s);
                else ConvertTensor(file, info, target, s, nThreads);
                done += info.ElementCount;
                progress?.Invoke(done, total);
            });
        }
        w.Write(outputPath);
        return report;
    }

    private static unsafe void CopyTensor(GgufFile file, GgufTensorInfo t, Stream s)
    {
        byte* p = (byte*)file.TensorPointer(t);
        for (long off = 0; off < t.ByteSize; off += 1 << 24)
            s.Write(new ReadOnlySpan<byte>(p + off, (int)Math.Min(1 << 24, t.ByteSize - off)));
    }

    private static unsafe void ConvertTensor(GgufFile file, GgufTensorInfo t, GgmlType to, Stream s, int threads)
    {
        if (!GgmlTypeInfo.IsSupportedWeight(t.Type))
            throw new StrataException($"tensor '{t.Name}' has type {GgmlTypeInfo.Name(t.Type)}, which Strata cannot dequantize");
        int cols = checked((int)t.Shape[0]);
        long rows = t.Rows;
        int srcRowBytes = checked((int)GgmlTypeInfo.RowBytes(t.Type, cols));
        int dstRowBytes = checked((int)GgmlTypeInfo.RowBytes(to, cols));
        int chunkRows = (int)Math.Clamp((16L << 20) / Math.Max(1, cols * 4L), 1, rows);
        var buffer = new byte[(long)chunkRows * dstRowBytes];
        byte* src = (byte*)file.TensorPointer(t);
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
        for (long start = 0; start < rows; start += chunkRows)
        {
            int n = (int)Math.Min(chunkRows, rows - start);
            long first = start;
            Parallel.For(0, n, options, () => new float[cols], (i, _, row) =>
            {
                var bytes = new ReadOnlySpan<byte>(src + (first + i) * srcRowBytes, srcRowBytes);
                Dequantize.Row(t.Type, bytes, row);
                Tensors.Quantize.Row(to, row, buffer.AsSpan(i * dstRowBytes, dstRowBytes));
                return row;
            }, _ => { });
            s.Write(buffer, 0, n * dstRowBytes);
        }
    }
}
