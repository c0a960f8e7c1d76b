namespace Strata.Tokenizers;

/// <summary>Token types as stored in <c>tokenizer.ggml.token_type</c> (values are GGUF's).</summary>
public enum TokenType
{
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>Per-token attribute bits, numbered as llama.cpp's <c>llama_token_attr</c>.</summary>
[Flags]
public enum TokenAttributes
{
    Undefined = 0,
    Unknown = 1 << 0,
    Unused = 1 << 1,
    Normal = 1 << 2,
    Control = 1 << 3,
    UserDefined = 1 << 4,
    Byte = 1 << 5,
    Normalized = 1 << 6,
    LStrip = 1 << 7,
    RStrip = 1 << 8,
    SingleWord = 1 << 9,
}

/// <summary>The tokenization algorithm family of a vocabulary.</summary>
public enum VocabularyKind
{
    /// <summary><c>tokenizer.ggml.model = llama</c>: SentencePiece-style, score-driven merging with byte fallback.</summary>
    SentencePiece,

    /// <summary><c>tokenizer.ggml.model = gpt2</c>: byte-level BPE with ranked merges.</summary>
    BytePairEncoding,
}

/// <summary>Bad or unsupported vocabulary data, or text that cannot be tokenized. The message is one line.</summary>
public sealed class TokenizerException(string message) : StrataException(message);
