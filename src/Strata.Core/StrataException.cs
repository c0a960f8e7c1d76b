namespace Strata;

/// <summary>
/// An error a user caused or can fix (a bad file, a bad argument). Its message is complete on its own:
/// front ends print it as one line, without a stack trace.
/// </summary>
public class StrataException : Exception
{
    public StrataException(string message) : base(message) { }
    public StrataException(string message, Exception inner) : base(message, inner) { }
}
