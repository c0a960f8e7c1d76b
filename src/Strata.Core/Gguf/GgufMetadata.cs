namespace Strata.Gguf;

/// <summary>
/// The key/value metadata of a GGUF file, in file order, with typed accessors. Accessors that find a key of the wrong
/// type throw <see cref="GgufFormatException"/> naming the key, so a model with a mistyped key fails with a clear message.
/// </summary>
public sealed class GgufMetadata
{
    private readonly Dictionary<string, GgufValue> _values;
    private readonly List<string> _order;
    private readonly string _source;

    internal GgufMetadata(string source, List<KeyValuePair<string, GgufValue>> entries)
    {
        _source = source;
        _values = new Dictionary<string, GgufValue>(entries.Count, StringComparer.Ordinal);
        _order = new List<string>(entries.Count);
        foreach (var (k, v) in entries)
        {
            _values[k] = v;
            _order.Add(k);
        }
    }

    /// <summary>The file the metadata came from (its name), for messages.</summary>
    public string Source => _source;

    public int Count => _order.Count;

    /// <summary>Keys in file order.</summary>
    public IReadOnlyList<string> Keys => _order;

    public bool Contains(string key) => _values.ContainsKey(key);

    public GgufValue? TryGet(string key) => _values.GetValueOrDefault(key);

    public GgufValue Get(string key) =>
        _values.TryGetValue(key, out var v) ? v : throw Fail($"required metadata key '{key}' is missing");

    public string GetString(string key) => TryGetString(key) ?? throw Fail($"required metadata key '{key}' is missing");

    public string? TryGetString(string key) => TryGet(key) switch
    {
        null => null,
        { Value: string s } => s,
        var v => throw WrongType(key, v, "string"),
    };

    public uint GetUInt32(string key) => TryGetUInt32(key) ?? throw Fail($"required metadata key '{key}' is missing");

    /// <summary>Any integer type whose value fits in uint32 is accepted: writers differ in the width they choose.</summary>
    public uint? TryGetUInt32(string key)
    {
        var v = TryGet(key);
        if (v is null) return null;
        long? x = AsInteger(v.Value);
        if (x is null) throw WrongType(key, v, "integer");
        if (x < 0 || x > uint.MaxValue) throw Fail($"metadata key '{key}' = {x} is out of range");
        return (uint)x.Value;
    }

    public int? TryGetInt32(string key)
    {
        var v = TryGet(key);
        if (v is null) return null;
        long? x = AsInteger(v.Value);
        if (x is null) throw WrongType(key, v, "integer");
        if (x < int.MinValue || x > int.MaxValue) throw Fail($"metadata key '{key}' = {x} is out of range");
        return (int)x.Value;
    }

    public float GetFloat32(string key) => TryGetFloat32(key) ?? throw Fail($"required metadata key '{key}' is missing");

    public float? TryGetFloat32(string key) => TryGet(key) switch
    {
        null => null,
        { Value: float f } => f,
        { Value: double d } => (float)d,
        var v => throw WrongType(key, v, "float"),
    };

    public bool? TryGetBool(string key) => TryGet(key) switch
    {
        null => null,
        { Value: bool b } => b,
        var v when AsInteger(v.Value) is long i => i != 0,
        var v => throw WrongType(key, v, "bool"),
    };

    public GgufArray? TryGetArray(string key) => TryGet(key) switch
    {
        null => null,
        { Value: GgufArray a } => a,
        var v => throw WrongType(key, v, "array"),
    };

    public string[] GetStringArray(string key) => TryGetStringArray(key) ?? throw Fail($"required metadata key '{key}' is missing");

    public string[]? TryGetStringArray(string key) => TryGetArray(key) switch
    {
        null => null,
        { Items: string[] s } => s,
        var a => throw Fail($"metadata key '{key}' is an array of {a.ElementType}, expected an array of strings"),
    };

    public float[]? TryGetFloat32Array(string key) => TryGetArray(key) switch
    {
        null => null,
        { Items: float[] f } => f,
        { Items: double[] d } => Array.ConvertAll(d, x => (float)x),
        var a => throw Fail($"metadata key '{key}' is an array of {a.ElementType}, expected an array of floats"),
    };

    /// <summary>An integer array of any element width, converted to int (values must fit).</summary>
    public int[]? TryGetInt32Array(string key)
    {
        var a = TryGetArray(key);
        if (a is null) return null;
        var result = new int[a.Count];
        for (int i = 0; i < result.Length; i++)
        {
            long? x = AsInteger(a.Items.GetValue(i)!);
            if (x is null) throw Fail($"metadata key '{key}' is an array of {a.ElementType}, expected an array of integers");
            if (x < int.MinValue || x > int.MaxValue) throw Fail($"metadata key '{key}'[{i}] = {x} is out of range");
            result[i] = (int)x.Value;
        }
        return result;
    }

    private static long? AsInteger(object o) => o switch
    {
        byte b => b,
        sbyte sb => sb,
        ushort us => us,
        short s => s,
        uint ui => ui,
        int i => i,
        ulong ul => ul <= long.MaxValue ? (long)ul : long.MaxValue,
        long l => l,
        _ => null,
    };

    private GgufFormatException WrongType(string key, GgufValue v, string expected) =>
        Fail($"metadata key '{key}' has type {v.Type}, expected {expected}");

    private GgufFormatException Fail(string what) => new($"{_source}: {what}");
}
