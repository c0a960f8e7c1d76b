namespace Strata.Kv.Replay;

/// <summary>
/// One request of a Mooncake-format trace. <paramref name="HashIds"/> holds one id per 512-token block of the
/// prompt; ids are chained-prefix ids, so an equal id in two requests means the same prefix up to and including
/// that block, hence a reusable KV block.
/// </summary>
/// <param name="Timestamp">Arrival time in milliseconds.</param>
/// <param name="InputLength">Prompt length in tokens.</param>
/// <param name="OutputLength">Generated length in tokens.</param>
/// <param name="HashIds">Block ids of the prompt, first block first.</param>
public sealed record TraceRequest(long Timestamp, int InputLength, int OutputLength, long[] HashIds);
