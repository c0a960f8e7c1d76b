namespace Strata.Tensors;

/// <summary>How a weight matrix's bytes are arranged.</summary>
public enum WeightLayout
{
    /// <summary>As in the GGUF file: row after row.</summary>
    Plain,
    /// <summary>
    /// Rows interleaved in groups of eight (Q4_0/Q4_1/Q5_0/Q5_1: <see cref="Block32x8"/>, Q8_0: <see cref="Q8_0x8"/>,
    /// Q2_K/Q3_K: <see cref="LowBitKx8"/>, Q4_K: <see cref="Q4_Kx8"/>, Q5_K: <see cref="Q5_Kx8"/>, Q6_K: <see cref="Q6_Kx8"/>), so one load serves eight rows; rows past the last whole group stay plain. Same byte size as plain.
    /// </summary>
    Interleaved8,
    /// <summary>
    /// As <see cref="Plain"/>, and found when loaded to hold no infinity or NaN (F16): its kernel widens the halves
    /// without looking for them, which is most of what decode costs beyond reading them.
    /// </summary>
    PlainFinite,
    /// <summary>
    /// F16 re-encoded into a copy (<see cref="RebasedHalf"/>) so that every value, subnormals included, widens exactly
    /// in four vector operations; for matrices whose values are all finite and below 2 in magnitude, on machines with
    /// AVX-512. Same byte size and row order as plain, but not F16 bits.
    /// </summary>
    RebasedF16,
}
