namespace Strata.Kv;

/// <summary>How K and V rows are stored in every tier and read by attention.</summary>
public enum KvType
{
    F16,
}

public static class KvTypeInfo
{
    public static string Name(KvType t) => t switch { KvType.F16 => "f16", _ => t.ToString().ToLowerInvariant() };

    public static KvType Parse(string s) => s.ToLowerInvariant() switch
    {
        "f16" => KvType.F16,
        _ => throw new StrataException($"unknown KV type '{s}': f16 is supported"),
    };
}
