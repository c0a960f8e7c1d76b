using Strata.Tokenizers;

namespace Strata.Chat.Tools;

/// <summary>How a model family writes function calls in its output.</summary>
public enum ToolCallFormat
{
    /// <summary>
    /// Templates that know no tools: Strata describes the tools in the system turn and reads a JSON object
    /// <c>{"tool_calls": [{"name": ..., "arguments": {...}}]}</c> (or one call object) answered alone.
    /// </summary>
    Generic,
    /// <summary>Hermes, Qwen2.5, Qwen3: <c>&lt;tool_call&gt;{"name": ..., "arguments": ...}&lt;/tool_call&gt;</c>, several for parallel calls.</summary>
    Hermes,
    /// <summary>Llama 3.1–3.3: a JSON object <c>{"name": ..., "parameters": ...}</c>, optionally after <c>&lt;|python_tag|&gt;</c>.</summary>
    Llama3,
    /// <summary>Mistral: <c>[TOOL_CALLS][{"name": ..., "arguments": ...}, ...]</c> or <c>[TOOL_CALLS]name[ARGS]{...}</c>.</summary>
    Mistral,
}

/// <summary>What a family's format looks like to the output parser and to the prompt.</summary>
public static class ToolCallFormats
{
    /// <summary>
    /// The format of the model's chat template; for a template that renders tools in a way not recognised, that of its
    /// vocabulary (a family's special tokens); else <see cref="ToolCallFormat.Generic"/>.
    /// </summary>
    public static ToolCallFormat Detect(string templateSource, Vocabulary? vocab)
    {
        if (templateSource.Contains(HermesRegion.Open, StringComparison.Ordinal)) return ToolCallFormat.Hermes;
        if (templateSource.Contains(MistralRegion.Marker, StringComparison.Ordinal)) return ToolCallFormat.Mistral;
        if (templateSource.Contains(PythonTag, StringComparison.Ordinal)
            || (templateSource.Contains("<|start_header_id|>", StringComparison.Ordinal) && TemplateKnowsTools(templateSource)))
            return ToolCallFormat.Llama3;
        // A template that renders no tools gets them described by Strata, in the generic format's terms.
        if (!TemplateKnowsTools(templateSource)) return ToolCallFormat.Generic;
        if (vocab is not null)
        {
            if (vocab.Find(MistralRegion.Marker) >= 0) return ToolCallFormat.Mistral;
            if (vocab.Find(HermesRegion.Open) >= 0) return ToolCallFormat.Hermes;
            if (vocab.Find(PythonTag) >= 0) return ToolCallFormat.Llama3;
        }
        return ToolCallFormat.Generic;
    }

    public const string PythonTag = "<|python_tag|>";

    /// <summary>Whether the template renders the tools itself (else Strata describes them in the system turn).</summary>
    public static bool TemplateKnowsTools(string templateSource) => templateSource.Contains("tools", StringComparison.Ordinal);

    /// <summary>Texts that open a call anywhere in the output.</summary>
    internal static IReadOnlyList<string> Markers(ToolCallFormat f) => f switch
    {
        ToolCallFormat.Hermes => [HermesRegion.Open],
        ToolCallFormat.Llama3 => [PythonTag],
        ToolCallFormat.Mistral => [MistralRegion.Marker],
        _ => [],
    };

    /// <summary>Whether a bare JSON object at the start of the answer may be a call.</summary>
    internal static bool BareJson(ToolCallFormat f) => f is ToolCallFormat.Llama3 or ToolCallFormat.Generic;

    internal static CallRegion OpenRegion(ToolCallFormat f, string opening, IReadOnlySet<string>? allowed) => f switch
    {
        ToolCallFormat.Hermes => new HermesRegion(opening, allowed),
        ToolCallFormat.Mistral => new MistralRegion(opening, allowed),
        _ => new JsonCallsRegion(opening, allowed),
    };

    /// <summary>
    /// Special-token texts the format's output contains. Vocabularies often mark them as control tokens, which
    /// detokenizing drops; the server asks the engine to keep these in the text so the parser can see them.
    /// </summary>
    public static IReadOnlyList<string> SpecialTexts(ToolCallFormat f) => f switch
    {
        ToolCallFormat.Hermes => [HermesRegion.Open, HermesRegion.Close],
        ToolCallFormat.Llama3 => [PythonTag],
        ToolCallFormat.Mistral => [MistralRegion.Marker, MistralRegion.Args, MistralRegion.CallId],
        _ => [],
    };
}
