using System.Text;

namespace Strata.Tokenizers;

/// <summary>
/// Turns a stream of token ids into text for streaming output. Token pieces are byte strings that may split a UTF-8
/// character; this decoder only ever returns complete characters and holds back a partial sequence until the tokens
/// that complete it arrive. Bytes that can never form a character come out as U+FFFD.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly ITokenizer _tokenizer;
    private readonly bool _special;
    private readonly Decoder _decoder = new UTF8Encoding(false, false).GetDecoder();
    private char[] _chars = new char[64];

    public StreamingDecoder(ITokenizer tokenizer, bool renderSpecial = false)
    {
        _tokenizer = tokenizer;
        _special = renderSpecial;
    }

    /// <summary>Feeds one token; returns the text that is now complete (possibly empty).</summary>
    public string Push(int tokenId) => Feed(_tokenizer.TokenBytes(tokenId, _special), flush: false);

    /// <summary>Feeds raw bytes (e.g. a piece obtained elsewhere).</summary>
    public string PushBytes(ReadOnlySpan<byte> bytes) => Feed(bytes, flush: false);

    /// <summary>Ends the stream: whatever partial sequence is still held back is returned as U+FFFD.</summary>
    public string Flush() => Feed([], flush: true);

    private string Feed(ReadOnlySpan<byte> bytes, bool flush)
    {
        int needed = _decoder.GetCharCount(bytes, flush);
        if (needed == 0 && bytes.Length == 0 && !flush) return "";
        if (_chars.Length < needed + 4) _chars = new char[Math.Max(needed + 4, _chars.Length * 2)];
        int n = _decoder.GetChars(bytes, _chars, flush);
        return n == 0 ? "" : new string(_chars, 0, n);
    }
}
