namespace Strata.Tests.Grammar;

/// <summary>Schemas the grammar tests and the grammar-mask benchmark share (the benchmark links this file).</summary>
public static class GrammarSamples
{
    /// <summary>A nested schema with every kind of value, bounded so that any walk through it ends.</summary>
    public const string NestedSchema = """
        {"type":"object","additionalProperties":false,
         "required":["id","name","tags","owner","status","score","history"],
         "properties":{
           "id":{"type":"integer","minimum":1,"maximum":99999},
           "name":{"type":"string","minLength":1,"maxLength":12},
           "tags":{"type":"array","items":{"type":"string","maxLength":8},"minItems":1,"maxItems":3},
           "owner":{"type":"object","additionalProperties":false,"required":["uid","since","admin"],
             "properties":{"uid":{"type":"string","format":"uuid"},"since":{"type":"string","format":"date"},"admin":{"type":"boolean"}}},
           "status":{"enum":["active","inactive","banned"]},
           "score":{"anyOf":[{"type":"number","minimum":0,"maximum":100},{"type":"null"}]},
           "note":{"type":"string","maxLength":10},
           "history":{"type":"array","maxItems":2,"items":{"$ref":"#/$defs/event"}}},
         "$defs":{"event":{"type":"object","additionalProperties":false,"required":["kind","code"],
           "properties":{"kind":{"const":"login"},"code":{"type":"string","pattern":"^[A-Z]{2}[0-9]{2}$"}}}}}
        """;
}
