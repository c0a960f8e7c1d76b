using System.Text.Json;
using Strata.Grammar;

namespace Strata.Tests.Grammar;

/// <summary>Each keyword of the schema compiler, checked by running the compiled grammar over JSON texts.</summary>
public class JsonSchemaGrammarTests
{
    private static Strata.Grammar.Grammar Compile(string schema, string prefix = "") => Gbnf.Parse(JsonSchemaGrammar.ToGbnf(schema, prefix), prefix + "root");

    private static void Check(string schema, string[] valid, string[] invalid)
    {
        var g = Compile(schema);
        foreach (var v in valid) Assert.True(g.Matches(v), $"should match: {v}\n{g}");
        foreach (var v in invalid) Assert.False(g.Matches(v), $"should not match: {v}\n{g}");
    }

    [Fact]
    public void Primitives() => Check("""{"type":"object","properties":{"s":{"type":"string"},"n":{"type":"number"},"i":{"type":"integer"},"b":{"type":"boolean"},"z":{"type":"null"}},"required":["s","n","i","b","z"]}""",
        ["""{"s":"a\"\\\u00e9é","n":-1.5e3,"i":-42,"b":true,"z":null}""", "{ \"s\" : \"\" , \"n\" : 0 , \"i\" : 0 , \"b\" : false , \"z\" : null }",
         "{\n  \"s\": \"x\",\n  \"n\": 3.25,\n  \"i\": 7,\n  \"b\": true,\n  \"z\": null\n}"],
        ["""{"s":1,"n":1,"i":1,"b":true,"z":null}""", """{"s":"","n":1,"i":1.5,"b":true,"z":null}""", """{"s":"","n":01,"i":1,"b":true,"z":null}""",
         """{"s":"","n":1,"i":1,"b":1,"z":null}""", """{"n":1,"s":"","i":1,"b":true,"z":null}""", """{"s":"","n":1,"i":1,"b":true}""",
         """{"s":"\x","n":1,"i":1,"b":true,"z":null}""", "{\"s\":\"\n\",\"n\":1,\"i\":1,\"b\":true,\"z\":null}",
         """{"s":"","n":1,"i":1,"b":true,"z":null,"extra":1}"""]);

    [Fact]
    public void WhitespaceIsBounded()
    {
        var g = Compile("""{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}""");
        Assert.True(g.Matches("{\n" + new string(' ', 20) + "\"a\": 1}"));
        Assert.False(g.Matches("{\n" + new string(' ', 21) + "\"a\": 1}"));
        Assert.False(g.Matches("{  \"a\": 1}"));
        Assert.False(g.Matches("""{"a": 1} """));   // nothing after the value: generation can end right there
    }

    [Fact]
    public void OptionalPropertiesMayBeLeftOutInOrder() => Check(
        """{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"},"c":{"type":"integer"},"d":{"type":"integer"}},"required":["b","d"],"additionalProperties":false}""",
        ["""{"b":1,"d":2}""", """{"a":0,"b":1,"d":2}""", """{"a":0,"b":1,"c":5,"d":2}""", """{"b":1,"c":5,"d":2}"""],
        ["""{"d":2,"b":1}""", """{"a":0,"d":2}""", """{"b":1}""", """{"b":1,"d":2,"e":3}""", """{"b":1,,"d":2}""", """{,"b":1,"d":2}""", """{"b":1,"d":2,}"""]);

    [Fact]
    public void AllOptional() => Check("""{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}}}""",
        ["{}", """{"a":1}""", """{"b":"x"}""", """{"a":1,"b":"x"}""", "{ }"],
        ["""{"b":"x","a":1}""", """{"c":1}""", """{,}"""]);

    [Fact]
    public void AdditionalProperties()
    {
        Check("""{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],"additionalProperties":{"type":"boolean"}}""",
            ["""{"a":1}""", """{"a":1,"x":true,"y":false}""", """{"a":1,"ab":true}""", """{"a":1,"":true}"""],
            ["""{"a":1,"x":1}""", """{"x":true}""", """{"a":1,"a":true}"""]);
        Check("""{"type":"object","additionalProperties":true}""", ["{}", """{"x":[1,{"y":null}]}"""], ["[]"]);
        Check("""{"type":"object","properties":{"name":{"type":"string"}},"additionalProperties":{"type":"integer"}}""",
            ["{}", """{"name":"n"}""", """{"k":1}""", """{"name":"n","k":1,"nam":2,"names":3}"""],
            ["""{"name":1}""", """{"k":1,"name":2}""", """{"name":"n","name":3}"""]);
        Check("""{"type":"object"}""", ["{}", """{"a":{"b":[1,"x",null,true]}}"""], ["[]", "1"]);
    }

    [Fact]
    public void EnumAndConst()
    {
        Check("""{"enum":["red","green",3,null,{"a":[1,"é"]}]}""", ["\"red\"", "\"green\"", "3", "null", """{"a":[1,"é"]}"""], ["\"blue\"", "\"Red\"", "4", """{"a": [1,"é"]}"""]);
        Check("""{"const":"x\"y"}""", ["\"x\\\"y\""], ["\"x\"", "\"x\\\"yz\""]);
        Check("""{"type":"object","properties":{"kind":{"const":"circle"},"r":{"type":"number"}},"required":["kind","r"]}""",
            ["""{"kind":"circle","r":2}"""], ["""{"kind":"square","r":2}"""]);
    }

    [Fact]
    public void IntegerRanges()
    {
        var g = Compile("""{"type":"integer","minimum":-15,"maximum":1234}""");
        for (int i = -40; i <= 1300; i++) Assert.Equal(i >= -15 && i <= 1234, g.Matches(i.ToString()));
        Assert.False(g.Matches("007"));
        Assert.False(g.Matches("-0"));
        var ex = Compile("""{"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":100}""");
        for (int i = -5; i <= 105; i++) Assert.Equal(i > 0 && i < 100, ex.Matches(i.ToString()));
        var open = Compile("""{"type":"integer","minimum":95}""");
        foreach (var (text, ok) in new[] { ("94", false), ("95", true), ("99", true), ("100", true), ("123456789012", true), ("9", false), ("-100", false) })
            Assert.Equal(ok, open.Matches(text));
        var below = Compile("""{"type":"integer","maximum":-7}""");
        foreach (var (text, ok) in new[] { ("-7", true), ("-6", false), ("0", false), ("-100000", true), ("7", false) })
            Assert.Equal(ok, below.Matches(text));
        var draft4 = Compile("""{"type":"integer","minimum":5,"exclusiveMinimum":true,"maximum":8}""");
        Assert.Equal([false, true, true, true, false], new[] { "5", "6", "7", "8", "9" }.Select(draft4.Matches).ToArray());
    }

    [Fact]
    public void NumberRangesStayInside()
    {
        var g = Compile("""{"type":"number","minimum":0,"maximum":10}""");
        foreach (var (text, ok) in new[] { ("0", true), ("10", true), ("9.75", true), ("0.5", true), ("10.5", false), ("-0.5", false), ("-1", false), ("11", false), ("1e3", false) })
            Assert.Equal(ok, g.Matches(text));
        var neg = Compile("""{"type":"number","exclusiveMinimum":-3,"exclusiveMaximum":2.5}""");
        foreach (var (text, ok) in new[] { ("-3", false), ("-2.5", true), ("-2", true), ("2", true), ("1.9", true), ("2.5", false), ("3", false), ("-3.5", false) })
            Assert.Equal(ok, neg.Matches(text));
    }

    [Fact]
    public void StringLengthsPatternsAndFormats()
    {
        Check("""{"type":"string","minLength":2,"maxLength":4}""", ["\"ab\"", "\"abcd\"", "\"é😀\"", "\"a\\nb\""], ["\"a\"", "\"abcde\"", "\"\""]);
        Check("""{"type":"string","pattern":"^[A-Z]{2}-\\d{3}$"}""", ["\"AB-123\""], ["\"AB-12\"", "\"ab-123\"", "\"xAB-123\"", "\"AB-1234\""]);
        Check("""{"type":"string","pattern":"^(cat|dog)s?$"}""", ["\"cat\"", "\"dogs\""], ["\"cow\"", "\"cats!\""]);
        Check("""{"type":"string","pattern":"ab+c"}""", ["\"abc\"", "\"xxabbbcyy\""], ["\"ac\"", "\"abx\""]);
        Check("""{"type":"string","pattern":"^a.c$"}""", ["\"abc\"", "\"a\\\"c\"", "\"a\\\\c\"", "\"aéc\""], ["\"ac\"", "\"a\\nc\"", "\"a\"c\""]);
        Check("""{"type":"string","pattern":"^[^a-y]+$"}""", ["\"z\"", "\"Z\\\"\""], ["\"abc\"", "\"\""]);
        Check("""{"type":"string","pattern":"^\\w+@\\w+\\.(com|org)$"}""", ["\"me@host.org\""], ["\"me@host.net\"", "\"@host.com\""]);
        Check("""{"type":"string","pattern":"^x{2,}(?:yz)?$"}""", ["\"xx\"", "\"xxxxyz\""], ["\"x\"", "\"xxy\""]);
        Check("""{"type":"string","format":"date"}""", ["\"2024-02-29\"", "\"2000-02-29\"", "\"1999-12-31\"", "\"2023-04-30\""],
            ["\"2024-13-01\"", "\"2024-1-01\"", "\"24-01-01\"", "\"2023-02-29\"", "\"1900-02-29\"", "\"2023-04-31\"", "\"2023-02-30\"", "\"2023-00-10\""]);
        Check("""{"type":"string","format":"time"}""", ["\"23:59:59Z\"", "\"08:30:00.123+02:00\""], ["\"24:00:00Z\"", "\"08:30Z\"", "\"08:30:00\""]);
        Check("""{"type":"string","format":"date-time"}""", ["\"2024-05-01T12:00:00Z\"", "\"2024-05-01T12:00:00.5-05:30\""], ["\"2024-05-01 12:00:00Z\"", "\"2024-05-01\""]);
        Check("""{"type":"string","format":"uuid"}""", ["\"123e4567-e89b-12d3-a456-426614174000\""], ["\"123e4567e89b12d3a456426614174000\"", "\"123e4567-e89b-12d3-a456-42661417400g\""]);
        Check("""{"type":"string","format":"email"}""", ["\"jane.doe@example.com\"", "\"a+b@mail.co.uk\""], ["\"jane@\"", "\"@example.com\"", "\"jane doe@example.com\"", "\"jane@example\""]);
        Check("""{"type":"string","format":"ipv4"}""", ["\"192.168.0.1\"", "\"255.255.255.255\""], ["\"256.1.1.1\"", "\"1.2.3\"", "\"01.2.3.4\""]);
    }

    [Fact]
    public void Arrays()
    {
        Check("""{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3}""", ["[1]", "[1, 2, 3]", "[ 1 ,2 ]"], ["[]", "[1,2,3,4]", "[1,]", "[\"a\"]"]);
        Check("""{"type":"array","items":{"type":"string"}}""", ["[]", "[\"a\",\"b\"]"], ["[1]", "[\"a\" \"b\"]"]);
        Check("""{"type":"array","minItems":2}""", ["[1,\"x\"]", "[null,{},[]]"], ["[1]"]);
        Check("""{"type":"array","prefixItems":[{"type":"integer"},{"type":"string"}],"items":false}""", ["[1,\"a\"]"], ["[1]", "[1,\"a\",2]", "[\"a\",1]"]);
        Check("""{"type":"array","prefixItems":[{"type":"integer"},{"type":"string"}],"minItems":1}""", ["[1]", "[1,\"a\"]"], ["[]", "[1,\"a\",2]"]);
        Check("""{"type":"array","prefixItems":[{"type":"integer"}],"items":{"type":"boolean"}}""", ["[1]", "[1,true,false]"], ["[]", "[true]", "[1,2]"]);
        Check("""{"type":"array","maxItems":0}""", ["[]", "[ ]"], ["[1]"]);
    }

    [Fact]
    public void TypeListsAnyOfOneOfAndNullable()
    {
        Check("""{"type":["string","null"]}""", ["\"a\"", "null"], ["1"]);
        Check("""{"anyOf":[{"type":"integer","minimum":10},{"type":"string","maxLength":1}]}""", ["10", "\"a\""], ["9", "\"ab\""]);
        Check("""{"oneOf":[{"type":"boolean"},{"type":"null"}]}""", ["true", "null"], ["\"true\""]);
        Check("""{"type":"integer","nullable":true}""", ["1", "null"], ["\"1\""]);
        Check("{}", ["1", "\"x\"", "{\"a\":[null]}"], ["", "nul"]);
        Check("true", ["[]"], ["]"]);
    }

    [Fact]
    public void RefsAndDefsIncludingRecursion()
    {
        Check("""{"$defs":{"pt":{"type":"object","properties":{"x":{"type":"integer"},"y":{"type":"integer"}},"required":["x","y"]}},"type":"object","properties":{"a":{"$ref":"#/$defs/pt"},"b":{"$ref":"#/$defs/pt"}},"required":["a","b"]}""",
            ["""{"a":{"x":1,"y":2},"b":{"x":3,"y":4}}"""], ["""{"a":{"x":1},"b":{"x":3,"y":4}}"""]);
        Check("""{"definitions":{"n":{"type":"integer"}},"type":"array","items":{"$ref":"#/definitions/n"}}""", ["[1,2]"], ["[\"1\"]"]);
        var tree = """{"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v","kids"]}},"$ref":"#/$defs/node"}""";
        Check(tree, ["""{"v":1,"kids":[{"v":2,"kids":[]},{"v":3,"kids":[{"v":4,"kids":[]}]}]}"""], ["""{"v":1,"kids":[{"v":2}]}"""]);
        Check("""{"type":"object","properties":{"name":{"type":"string"},"child":{"anyOf":[{"$ref":"#"},{"type":"null"}]}},"required":["name","child"]}""",
            ["""{"name":"a","child":{"name":"b","child":null}}"""], ["""{"name":"a","child":{"name":"b"}}"""]);
    }

    [Fact]
    public void AllOfMergesObjects() => Check(
        """{"$defs":{"base":{"type":"object","properties":{"id":{"type":"integer"}},"required":["id"]}},"allOf":[{"$ref":"#/$defs/base"},{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}]}""",
        ["""{"id":1,"name":"x"}"""], ["""{"id":1}""", """{"name":"x"}"""]);

    [Fact]
    public void PropertyNamesAreEscaped() => Check("""{"type":"object","properties":{"a \"q\"":{"type":"integer"},"é/x":{"type":"integer"}},"required":["a \"q\"","é/x"]}""",
        ["""{"a \"q\"":1,"é/x":2}"""], ["""{"a "q"":1,"é/x":2}"""]);

    [Fact]
    public void JsonObjectGrammarIsAnyObject()
    {
        var g = Gbnf.Parse(JsonSchemaGrammar.JsonObjectGbnf);
        Assert.True(g.Matches("""{"a":[1,{"b":"c"}],"d":-0.5e-3}"""));
        Assert.True(g.Matches("{}"));
        Assert.False(g.Matches("[]"));
        Assert.False(g.Matches("\"x\""));
        Assert.False(g.Matches("""{"a":}"""));
    }

    [Fact]
    public void RulesCarryThePrefixSoSchemasEmbed()
    {
        string a = JsonSchemaGrammar.ToGbnf("""{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]}""", "args-");
        string b = JsonSchemaGrammar.ToGbnf("""{"type":"object","properties":{"y":{"type":"string"}},"required":["y"]}""", "other-");
        foreach (var line in (a + b).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            Assert.True(line.StartsWith("args-") || line.StartsWith("other-"), line);
        var g = Gbnf.Parse("root ::= \"<tool_call>\" (args-root | other-root) \"</tool_call>\"\n" + a + b);
        Assert.True(g.Matches("""<tool_call>{"x": 5}</tool_call>"""));
        Assert.True(g.Matches("""<tool_call>{"y": "5"}</tool_call>"""));
        Assert.False(g.Matches("""<tool_call>{"x": "5"}</tool_call>"""));
        Assert.StartsWith("args-root ::= ", a);
    }

    [Theory]
    [InlineData("""{"type":"object","properties":{"a":{"type":"object","patternProperties":{"^x":{}}}}}""", "unsupported JSON Schema keyword 'patternProperties' at #/properties/a")]
    [InlineData("""{"type":"array","items":{"type":"integer","multipleOf":3}}""", "unsupported JSON Schema keyword 'multipleOf' at #/items")]
    [InlineData("""{"type":"array","uniqueItems":true}""", "unsupported JSON Schema keyword 'uniqueItems' at #")]
    [InlineData("""{"not":{"type":"null"}}""", "unsupported JSON Schema keyword 'not' at #")]
    [InlineData("""{"if":{},"then":{}}""", "unsupported JSON Schema keyword 'if' at #")]
    [InlineData("""{"$defs":{"d":{"minProperties":1}},"$ref":"#/$defs/d"}""", "unsupported JSON Schema keyword 'minProperties' at #/$defs/d")]
    [InlineData("""{"type":"string","format":"uri"}""", "unsupported JSON Schema format 'uri' at #/format")]
    [InlineData("""{"$ref":"https://example.com/s.json"}""", "unsupported $ref 'https://example.com/s.json' at #")]
    [InlineData("""{"$ref":"#/$defs/missing"}""", "$ref '#/$defs/missing' at # points to nothing")]
    [InlineData("""{"type":"strin"}""", "unknown type 'strin' at #/type")]
    [InlineData("""{"type":"string","pattern":"^(?=a)b$"}""", "unsupported pattern at #/pattern: lookaround")]
    [InlineData("""{"type":"string","pattern":"(a)\\1"}""", "unsupported pattern at #/pattern: backreferences")]
    [InlineData("""{"type":"string","pattern":"a\\bc"}""", "word boundaries")]
    [InlineData("""{"type":"string","pattern":"a(b"}""", "is never closed")]
    [InlineData("""{"type":"integer","minimum":5,"maximum":4}""", "no number satisfies the bounds at #")]
    [InlineData("""{"type":"object","properties":{"a":false},"required":["a"]}""", "the schema at #/properties/a is false")]
    [InlineData("""{"type":"object","required":["a"],"additionalProperties":false}""", "required property 'a' at # is not in 'properties'")]
    [InlineData("""{"type":"object","properties":{"a/b":{"not":{}}}}""", "at #/properties/a~1b")]
    [InlineData("""{"enum":[]}""", "'enum' at # must be a non-empty array")]
    [InlineData("""{"type":"string","maxLength":-1}""", "'maxLength' at # must be a non-negative integer")]
    [InlineData("""{"allOf":[{"type":"string"},{"type":"integer"}]}""", "unsupported JSON Schema keyword 'type' in allOf at #/allOf/0")]
    [InlineData("""{"$ref":"#/$defs/a","type":"object","$defs":{"a":{}}}""", "unsupported JSON Schema keyword 'type' beside '$ref' at #")]
    [InlineData("""[1]""", "a JSON schema must be an object or a boolean, not an array, at #")]
    [InlineData("""{"type":""", "the JSON schema is not valid JSON")]
    public void UnsupportedOrBadSchemasNameTheKeywordAndPath(string schema, string message)
    {
        var e = Assert.Throws<GrammarException>(() => JsonSchemaGrammar.ToGbnf(schema));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void AnnotationsAndUnknownKeywordsAreIgnored() => Check(
        """{"$schema":"https://json-schema.org/draft/2020-12/schema","title":"T","description":"d","type":"object","properties":{"a":{"type":"integer","default":1,"examples":[2],"x-vendor":true}},"required":["a"],"$comment":"c"}""",
        ["""{"a":1}"""], ["{}"]);

    [Fact]
    public void AnOpenAiStrictSchemaCompiles()
    {
        // The shape the OpenAI SDKs send for a strict structured output (pydantic / zod style).
        var schema = """
            {"type":"object","additionalProperties":false,"required":["name","age","tags","address","status"],
             "properties":{"name":{"type":"string","description":"full name"},"age":{"type":"integer","minimum":0,"maximum":150},
               "tags":{"type":"array","items":{"type":"string"},"maxItems":5},
               "address":{"anyOf":[{"$ref":"#/$defs/Address"},{"type":"null"}]},
               "status":{"type":"string","enum":["active","inactive"]}},
             "$defs":{"Address":{"type":"object","additionalProperties":false,"required":["city","zip"],
               "properties":{"city":{"type":"string"},"zip":{"type":"string","pattern":"^[0-9]{5}$"}}}}}
            """;
        Check(schema,
            ["""{"name":"Ann","age":31,"tags":["a","b"],"address":{"city":"Oslo","zip":"01234"},"status":"active"}""",
             """{"name":"Bo","age":0,"tags":[],"address":null,"status":"inactive"}"""],
            ["""{"name":"Ann","age":151,"tags":[],"address":null,"status":"active"}""",
             """{"name":"Ann","age":1,"tags":[],"address":{"city":"Oslo","zip":"1234"},"status":"active"}""",
             """{"name":"Ann","age":1,"tags":["1","2","3","4","5","6"],"address":null,"status":"active"}"""]);
    }
}
