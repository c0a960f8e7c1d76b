using System.Text;

namespace Strata.Gguf;

/// <summary>A GGUF file is malformed or does not describe a model Strata can run; the message names file, offset and fault.</summary>
public sealed class GgufFormatException : StrataException
{
    private const int MaxMessageChars = 600;

    public GgufFormatException(string message) : base(Printable(message)) { }

    /// <summary>Names read from a corrupt file may hold control characters or be huge: keep the message one short line.</summary>
    private static string Printable(string s)
    {
        var sb = new StringBuilder(Math.Min(s.Length, MaxMessageChars + 8));
        foreach (char ch in s)
        {
            if (sb.Length >= MaxMessageChars) { sb.Append('…'); break; }
            if (char.IsControl(ch)) sb.Append($"\\u{(int)ch:X4}");
            else sb.Append(ch);
        }
        return sb.ToString();
    }
}
