namespace Strata.Chat;

/// <summary>
/// A chat template that cannot be parsed or rendered: a syntax error (with line and column), a
/// <c>raise_exception(...)</c> call from the template itself, a type error, or an exceeded safety limit.
/// </summary>
public sealed class ChatTemplateException : StrataException
{
    /// <summary>1-based line of the offending token in the template source, or 0 when not known.</summary>
    public int Line { get; }

    /// <summary>1-based column of the offending token, or 0 when not known.</summary>
    public int Column { get; }

    public ChatTemplateException(string message) : base(message) { }

    public ChatTemplateException(string message, int line, int column)
        : base(line > 0 ? $"chat template, line {line}, column {column}: {message}" : message)
    {
        Line = line;
        Column = column;
    }
}
