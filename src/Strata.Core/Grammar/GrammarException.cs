namespace Strata.Grammar;

/// <summary>A grammar or JSON schema that cannot be compiled: the message says what is wrong and where (line:column in
/// GBNF text, a JSON pointer such as <c>#/properties/a</c> in a schema).</summary>
public sealed class GrammarException(string message) : StrataException(message);
