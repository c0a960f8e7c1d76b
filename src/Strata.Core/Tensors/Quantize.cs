using System.Buffers.Binary;

namespace Strata.Tensors;

/// <summary>
/// Reference quantizers with ggml's rounding rules (quantize_row_*_ref, no importance matrix),
/// so the 32-element types produce the same bytes as ggml for the same input.
/// </summary>
public static partial class Quantize
{
    public static void Row(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        long need = GgmlTypeInfo.RowBytes(type, src.Length);
        if (dst.Length < need) throw new ArgumentException($"{type}: {src.Length} elements need {need} bytes, got {dst.Length}");
        switch (type)
        {
            case GgmlType.F32:
                for (int i = 0; i < src.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(dst[(4 * i)..], src[i]);
                return;
            case GgmlType.F16:
                for (int i = 0; i < src.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(dst[(2 * i)..], HalfBits.FromSingle(src[i]));
                return;
            case GgmlType.BF16:
                for (int i = 0; i < src.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(dst[(2 * i)..], HalfBits.Bf16FromSingle(src[i]));
                return;
            case GgmlType.Q8_0: Blocks(src, dst, 32, 34, Q8_0); return;
            case GgmlType.Q4_0: Blocks(src, dst, 32, 18, Q4_0); return;
            case GgmlType.Q4_1: Blocks(src, dst, 32, 20, Q4_1); return;
            case GgmlType.Q5_0: Blocks(src, dst, 32, 22, Q5_0); return;
            case GgmlType.Q5_1: Blocks(src, dst, 32, 24, Q5_1); return;
            case GgmlType.Q2_K: Blocks(src, dst, 256, 84, Q2_K); return;
            case GgmlType.Q3_K: Blocks(src, dst, 256, 110, Q3_K); return;
            case GgmlType.Q4_K: Blocks(src, dst, 256, 144, Q4_K); return;
            case GgmlType.Q5_K: Blocks(src, dst, 256, 176, Q5_K); return;
            case GgmlType.Q6_K: Blocks(src, dst, 256, 210, Q6_K); return;
            default: throw new NotSupportedException($"quantize to {GgmlTypeInfo.Name(type)}");
        }
    }

    private delegate void BlockFn(ReadOnlySpan<float> x, Span<byte> y);

    private static void Blocks(ReadOnlySpan<float> src, Span<byte> dst, int elems, int bytes, BlockFn fn)
    {
        for (int i = 0, n = src.Length / elems; i < n; i++)
            fn(src.Slice(i * elems, elems), dst.Slice(i * bytes, bytes));
    }

    private static void PutHalf(Span<byte> y, int o, float v) => BinaryPrimitives.WriteUInt16LittleEndian(y[o..], HalfBits.FromSingle(v));

    /// <summary>ggml's nearest_int: round half to even (its 1.5*2^23 trick, valid for |v| &lt; 2^22).</summary>
    internal static int NearestInt(float v) => (int)MathF.Round(v);

    private static void Q8_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        PutHalf(y, 0, d);
        // roundf: half away from zero
        for (int j = 0; j < 32; j++) y[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
    }

    /// <summary>Signed max: the value with the largest magnitude (first one on ties), as ggml picks it.</summary>
    private static float SignedMax(ReadOnlySpan<float> x)
    {
        float amax = 0, max = 0;
        foreach (float v in x)
            if (amax < MathF.Abs(v)) { amax = MathF.Abs(v); max = v; }
        return max;
    }

    private static void Q4_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        float d = SignedMax(x) / -8;
        float id = d != 0 ? 1.0f / d : 0.0f;
        PutHalf(y, 0, d);
        for (int j = 0; j < 16; j++)
        {
            // (int8_t)(v + 8.5f) truncates toward zero, then clamps to 15
            int a = Math.Min(15, (int)(sbyte)(int)(x[j] * id + 8.5f));
            int b = Math.Min(15, (int)(sbyte)(int)(x[j + 16] * id + 8.5f));
            y[2 + j] = (byte)(a | (b << 4));
        }
    }

    private static void MinMax(ReadOnlySpan<float> x, out float min, out float max)
    {
        min = float.MaxValue; max = -float.MaxValue;
        foreach (float v in x)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
    }

    private static void Q4_1(ReadOnlySpan<float> x, Span<byte> y)
    {
        MinMax(x, out float min, out float max);
        float d = (max - min) / 15;
        float id = d != 0 ? 1.0f / d : 0.0f;
        PutHalf(y, 0, d);
        PutHalf(y, 2, min);
        for (int j = 0; j < 16; j++)
        {
            int a = Math.Min(15, (int)(sbyte)(int)((x[j] - min) * id + 0.5f));
            int b = Math.Min(15, (int)(sbyte)(int)((x[j + 16] - min) * id + 0.5f));
            y[4 + j] = (byte)(a | (b << 4));
        }
    }

    private static void Q5_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        float d = SignedMax(x) / -16;
        float id = d != 0 ? 1.0f / d : 0.0f;
        PutHalf(y, 0, d);
        uint qh = 0;
        for (int j = 0; j < 16; j++)
        {
            int a = Math.Min(31, (int)(sbyte)(int)(x[j] * id + 16.5f));
            int b = Math.Min(31, (int)(sbyte)(int)(x[j + 16] * id + 16.5f));
            y[6 + j] = (byte)((a & 0xF) | ((b & 0xF) << 4));
            qh |= (uint)((a & 0x10) >> 4) << j;
            qh |= (uint)((b & 0x10) >> 4) << (j + 16);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(y[2..], qh);
    }

    private static void Q5_1(ReadOnlySpan<float> x, Span<byte> y)
    {
        MinMax(x, out float min, out float max);
        float d = (max - min) / 31;
        float id = d != 0 ? 1.0f / d : 0.0f;
        PutHalf(y, 0, d);
        PutHalf(y, 2, min);
        uint qh = 0;
        for (int j = 0; j < 16; j++)
        {
            int a = (byte)(int)((x[j] - min) * id + 0.5f);
            int b = (byte)(int)((x[j + 16] - min) * id + 0.5f);
            y[8 + j] = (byte)((a & 0xF) | ((b & 0xF) << 4));
            qh |= (uint)((a & 0x10) >> 4) << j;
            qh |= (uint)((b & 0x10) >> 4) << (j + 16);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(y[4..], qh);
    }
}
