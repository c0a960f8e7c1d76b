namespace Strata.Tensors;

/// <summary>
/// Byte offsets inside one block of each quantized type, identical to ggml's C structs
/// (little-endian, no padding). "f16" fields are IEEE half bits.
/// </summary>
public static class BlockLayout
{
    public const int QK = 32;     // elements per block of the *_0 / *_1 types
    public const int QK_K = 256;  // elements per K-quant super-block

    // Q4_0 (18 bytes): f16 d | qs[16]; element j = low nibble of qs[j], element j+16 = high nibble; value (q-8)*d.
    public const int Q4_0_Qs = 2;
    // Q4_1 (20): f16 d | f16 m | qs[16]; value q*d + m.
    public const int Q4_1_M = 2, Q4_1_Qs = 4;
    // Q5_0 (22): f16 d | u32 qh | qs[16]; bit j of qh is bit 4 of element j; value (q-16)*d.
    public const int Q5_0_Qh = 2, Q5_0_Qs = 6;
    // Q5_1 (24): f16 d | f16 m | u32 qh | qs[16]; value q*d + m.
    public const int Q5_1_M = 2, Q5_1_Qh = 4, Q5_1_Qs = 8;
    // Q8_0 (34): f16 d | int8 qs[32]; value q*d.
    public const int Q8_0_Qs = 2;

    // Q2_K (84): scales[16] (low nibble scale, high nibble min) | qs[64] | f16 d | f16 dmin.
    public const int Q2_K_Qs = 16, Q2_K_D = 80, Q2_K_DMin = 82;
    // Q3_K (110): hmask[32] | qs[64] | scales[12] (16 x 6-bit, offset 32) | f16 d.
    public const int Q3_K_Qs = 32, Q3_K_Scales = 96, Q3_K_D = 108;
    // Q4_K (144): f16 d | f16 dmin | scales[12] (8 x 6-bit scale + 8 x 6-bit min) | qs[128].
    public const int Q4_K_DMin = 2, Q4_K_Scales = 4, Q4_K_Qs = 16;
    // Q5_K (176): f16 d | f16 dmin | scales[12] | qh[32] | qs[128].
    public const int Q5_K_DMin = 2, Q5_K_Scales = 4, Q5_K_Qh = 16, Q5_K_Qs = 48;
    // Q6_K (210): ql[128] | qh[64] | int8 scales[16] | f16 d.
    public const int Q6_K_Qh = 128, Q6_K_Scales = 192, Q6_K_D = 208;

    /// <summary>ggml's get_scale_min_k4: 6-bit scale and min number j (0..7) of a Q4_K/Q5_K block.</summary>
    public static void ScaleMinK4(int j, ReadOnlySpan<byte> q, out int scale, out int min)
    {
        if (j < 4)
        {
            scale = q[j] & 63;
            min = q[j + 4] & 63;
        }
        else
        {
            scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }

    /// <summary>The 16 signed 6-bit scales of a Q3_K block (already minus 32).</summary>
    public static void Q3KScales(ReadOnlySpan<byte> s, Span<int> scales)
    {
        for (int j = 0; j < 16; j++)
        {
            int low = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
            int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
            scales[j] = (low | (high << 4)) - 32;
        }
    }
}
