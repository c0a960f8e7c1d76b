using System.Diagnostics;
using Strata.Chat;
using Strata.Gguf;
using Strata.Tests.Support;

namespace Strata.Tests.Chat;

/// <summary>
/// One case per Jinja feature. Expected strings are Python Jinja2's renderings under Hugging Face's setup
/// (trim_blocks, lstrip_blocks, loop controls, json.dumps tojson), with the variables of <see cref="Render"/>.
/// </summary>
public class ChatTemplateTests
{
    private static readonly List<ChatMessage> Messages =
        [new("system", "S"), new("user", "U1"), new("assistant", "A1"), new("user", "U2")];

    private static string Render(string source, ChatTemplateOptions? options = null) =>
        ChatTemplate.Parse(source, options).Render(Messages, addGenerationPrompt: true, "<s>", "</s>", new Dictionary<string, object?>
        {
            ["xs"] = new[] { 3, 1, 2 },
            ["d"] = new Dictionary<string, object?> { ["b"] = 2, ["a"] = 1 },
            ["s"] = "  Hi There  ",
        });

    [Theory]
    [InlineData("Hello {{ 'world' }}!", "Hello world!")]
    [InlineData("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 / 2 }} {{ 8 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 3 ** 2 }} {{ 1.5 + 1 }}", "7 9 3.5 4.0 3 -4 1 2 64 2.5")]
    [InlineData("{{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 2 }} {{ [1] + [2] }} {{ -3 }} {{ not true }}", "a1NoneTrue abab [1, 2] -3 False")]
    [InlineData("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ 'ell' in 'hello' }} {{ 2 in [1,2] }} {{ 'a' in d }} {{ 'z' not in d }}", "True False True True True True True True")]
    [InlineData("{{ true and 'x' }} {{ false or 'y' }} {{ none or 0 or '' or 'z' }} {{ 'a' if false }}|{{ 'a' if true else 'b' }}", "x y z |a")]
    [InlineData("{{ none }} {{ true }} {{ False }} {{ None }} {{ 1.0 }} {{ 0.1 }} {{ 1e20 }} {{ 1.5e-7 }} {{ [1, 'a', none, true] }} {{ {'k': 'v'} }} {{ (1,) }} {{ (1, 'b') }}", "None True False None 1.0 0.1 1e+20 1.5e-07 [1, 'a', None, True] {'k': 'v'} (1,) (1, 'b')")]
    [InlineData("{{ 'it''s' }} {{ \"q\\\"q\" }} {{ 'a\\nb' }} {{ 'tab\\there' }} {{ '\\u00e9\\x41' }} {{ 'back\\\\slash' }} {{ 'keep\\d' }}", "its q\"q a\nb tab\there éA back\\slash keep\\d")]
    [InlineData("{{ messages[0]['role'] }} {{ messages[0].content }} {{ messages[-1].content }} {{ messages[1:3] | map(attribute='content') | join(',') }} {{ messages[::-1][0].role }} {{ (messages|length) }}", "system S U2 U1,A1 user 4")]
    [InlineData("{{ 'hello'[1:3] }} {{ 'hello'[-3:] }} {{ 'hello'[::-1] }} {{ 'hello'[::2] }} {{ xs[1] }} {{ xs[-1] }} {{ xs[5] }}|{{ 'abc'[1] }}", "el llo olleh hlo 1 2 |b")]
    [InlineData("{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }};{% endfor %}", "10TrueFalse443;21FalseFalse432;32FalseFalse421;43FalseTrue410;")]
    [InlineData("{% for m in messages %}{{ loop.previtem.role if loop.previtem is defined else '-' }}>{{ loop.nextitem.role if loop.nextitem is defined else '-' }} {% endfor %}", "->user system>assistant user>user assistant>- ")]
    [InlineData("{% for x in [] %}x{% else %}empty{% endfor %} {% for x in xs if x > 1 %}{{ x }}{{ loop.index }}{% endfor %}", "empty 3122")]
    [InlineData("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {% for k in d %}{{ k }}{% endfor %} {{ d.keys() | list }} {{ d.values() | list }} {{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 5) }}", "b=2;a=1; ba ['b', 'a'] [2, 1] 1 None 5")]
    [InlineData("{% for x in xs %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}", "3")]
    [InlineData("{% for a, b in [(1, 2), (3, 4)] %}{{ a + b }},{% endfor %} {% for c in 'ab' %}{{ c }}.{% endfor %} {% for i in range(3) %}{{ i }}{% endfor %} {% for i in range(1, 10, 3) %}{{ i }}{% endfor %} {% for i in range(5, 0, -2) %}{{ i }}{% endfor %}", "3,7, a.b. 012 147 531")]
    [InlineData("{% if false %}a{% elif none %}b{% elif 'x' %}c{% else %}d{% endif %} {% if [] %}e{% else %}f{% endif %} {% if {} %}g{% endif %}{% if 0.0 %}h{% endif %}", "c f ")]
    [InlineData("{% set x = 1 %}{% set y = x + 1 %}{{ x }}{{ y }} {% set a, b = 3, 4 %}{{ a }}{{ b }} {% set t %}block {{ x }}{% endset %}[{{ t }}]", "12 34 [block 1]")]
    [InlineData("{% set x = 'outer' %}{% for i in [1] %}{% set x = 'inner' %}{{ x }}{% endfor %} {{ x }} {% if true %}{% set x = 'if' %}{% endif %}{{ x }}", "inner outer if")]
    [InlineData("{% set ns = namespace(n=0, found=false) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.n }} {{ ns.found }}", "6 True")]
    [InlineData("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(punct='.', name='C') }}", "Hi A! Hi B? Hi C.")]
    [InlineData("{{ undefined_thing }}|{{ undefined_thing is defined }}|{{ undefined_thing is undefined }}|{{ undefined_thing | default('D') }}|{{ '' | default('E') }}|{{ '' | default('F', true) }}|{{ none is none }}|{{ 1 is not none }}", "|False|True|D||F|True|True")]
    [InlineData("{{ 'x' is string }} {{ 1 is string }} {{ d is mapping }} {{ xs is mapping }} {{ xs is iterable }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ 1 is number }} {{ 1 is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 2 is sameas 2 }} {{ false is sameas false }} {{ 1 is eq 1 }} {{ xs is sequence }} {{ 'ab' is lower }}", "True False True False True True False True True True True True True True True True True True True")]
    [InlineData("{{ s | trim }}|{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxhixx'.strip('x') }}|{{ s | upper }}|{{ s | lower }}|{{ 'hello world' | title }}|{{ 'hELLO' | capitalize }}|{{ s | length }}", "Hi There|Hi There|Hi There  |  Hi There|hi|  HI THERE  |  hi there  |Hello World|Hello|12")]
    [InlineData("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'aXbX'.replace('X', '-') }} {{ 'Hi'.upper() }}{{ 'Hi'.lower() }} {{ 'one two'.title() }} {{ 'abc'.find('c') }} {{ '-'.join(['a', 'b']) }}", "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b c'] True True a-b- HIhi One Two 2 a-b")]
    [InlineData("{{ xs | tojson }} {{ d | tojson }} {{ 'é\"\\n' | tojson }} {{ {'a': [1, {'b': none}]} | tojson(indent=2) }} {{ [] | tojson(indent=2) }} {{ 1.5 | tojson }} {{ true | tojson }}", "[3, 1, 2] {\"b\": 2, \"a\": 1} \"é\\\"\\n\" {\n  \"a\": [\n    1,\n    {\n      \"b\": null\n    }\n  ]\n} [] 1.5 true")]
    [InlineData("{{ xs | string }} {{ 5 | string }} {{ xs | join('-') }} {{ xs | first }} {{ xs | last }} {{ 'abc' | first }} {{ xs | list }} {{ 'ab' | list }} {{ xs | sort }} {{ xs | sort(reverse=true) }} {{ xs | reverse | list }} {{ xs | length }} {{ xs | sum }} {{ xs | min }} {{ xs | max }}", "[3, 1, 2] 5 3-1-2 3 2 a [3, 1, 2] ['a', 'b'] [1, 2, 3] [3, 2, 1] [2, 1, 3] 3 6 1 3")]
    [InlineData("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }} {{ messages | rejectattr('role', 'equalto', 'user') | map(attribute='role') | list }} {{ [0, 1, '', 'a'] | select | list }} {{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('odd') | list }} {{ ['a', 'b'] | map('upper') | list }}", "U1,U2 ['system', 'assistant'] [1, 'a'] [1, 3] [2, 4] ['A', 'B']")]
    [InlineData("{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ -3 | abs }} {{ 2.567 | round(2) }} {{ 'a<b' | safe }} {{ 'a<b&' | escape }} {{ 'x y' | replace(' ', '_') }} {{ 'aaa' | replace('a', 'b', 2) }}", "42 4 0 7 3 2.5 3 2.57 a<b a&lt;b&amp; x_y bba")]
    [InlineData("{{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}|{{ 'a\n\nb' | indent(2, blank=true) }}", "a\n  b\n\n  c|  a\n  b|a\n  \n  b")]
    [InlineData("{{ d | items | list }} {{ d | dictsort }} {{ [1, 1, 2] | unique | list }} {{ 'hello %s, %d' | format('x', 3) }} {{ '{} and {}'.format('a', 'b') }} {{ [1,2,3,4,5] | batch(2) | list }}", "[('b', 2), ('a', 1)] [('a', 1), ('b', 2)] [1, 2] hello x, 3 a and b [[1, 2], [3, 4], [5]]")]
    [InlineData("A\n  {% if true %}\n    B\n  {% endif %}\nC\n{# comment #}\nD {{- ' E ' -}} F\n  {%- if true -%}  G  {%- endif -%}  \nH\n{% raw %}{{ not parsed }}{% endraw %}\n", "A\n    B\nC\nD E FGH\n{{ not parsed }}")]
    [InlineData("{% for m in messages %}\n  {{ m.role }}\n{% endfor %}\n{%+ if true %}x{% endif %}", "  system\n  user\n  assistant\n  user\nx")]
    [InlineData("{{ raise_exception('boom') if false else 'ok' }}", "ok")]
    [InlineData("{% filter upper %}shout {{ 'it' }}{% endfilter %} {% set u | upper %}lower{% endset %}{{ u }}", "SHOUT IT LOWER")]
    [InlineData("{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}inside{% endcall %}", "[inside]")]
    [InlineData("{{ loop }}|{{ d.nothing }}|{{ d['nothing'] }}|{{ xs.nothing }}", "|||")]
    public void RendersLikeJinja2(string source, string expected) => Assert.Equal(expected, Render(source));

    [Fact]
    public void UndefinedIsLenient()
    {
        // Jinja's default Undefined renders empty and is falsy; attribute and item access on it stay undefined.
        Assert.Equal("|||False|0", Render("{{ nope }}|{{ nope.attr }}|{{ nope['k'].x }}|{{ nope.attr is defined }}|{{ nope | length }}"));
        Assert.Equal("x", Render("{% for a in nope %}a{% endfor %}{% if not nope.attr %}x{% endif %}"));
    }

    [Fact]
    public void GenerationBlockRendersItsBody() => Assert.Equal("a gen b", Render("a {% generation %}gen{% endgeneration %} b"));

    [Fact]
    public void RaiseExceptionCarriesTheTemplatesMessage()
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render("{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"));
        Assert.Equal("System role not supported", e.Message);
        Assert.IsAssignableFrom<StrataException>(e);
    }

    [Theory]
    [InlineData("Hello\n{% if x %}\nabc", 3, "expected '{% endif %}'")]
    [InlineData("{{ 1 + }}", 1, "expected an expression")]
    [InlineData("ok\n  {{ foo(1,, 2) }}", 2, "expected an expression")]
    [InlineData("{% for x in %}{% endfor %}", 1, "expected an expression")]
    [InlineData("{% frobnicate %}", 1, "unknown statement 'frobnicate'")]
    [InlineData("a\nb\n{{ 'unterminated }}", 3, "unterminated string")]
    [InlineData("{# never closed", 1, "unclosed comment")]
    [InlineData("{% if true %}x{% endfor %}", 1, "expected '{% endif %}'")]
    [InlineData("{{ x ) }}", 1, "unexpected ')'")]
    public void SyntaxErrorsCarryLineAndColumn(string source, int line, string message)
    {
        var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(source));
        Assert.Equal(line, e.Line);
        Assert.True(e.Column > 0);
        Assert.Contains(message, e.Message);
        Assert.Contains($"line {line}", e.Message);
    }

    [Theory]
    [InlineData("{{ 1 + 'a' }}", "can only concatenate str (not 'int')")]
    [InlineData("{{ 1 - 'a' }}", "unsupported operand types for -: 'int' and 'str'")]
    [InlineData("{{ 'a' + 1 }}", "can only concatenate str")]
    [InlineData("{{ xs | nosuchfilter }}", "unknown filter 'nosuchfilter'")]
    [InlineData("{{ 1 is nosuchtest }}", "unknown test 'nosuchtest'")]
    [InlineData("{{ nofunc() }}", "'nofunc' is undefined")]
    [InlineData("{{ 1 // 0 }}", "division by zero")]
    [InlineData("{% set x = 1 %}{% set x.y = 2 %}", "only namespace() objects")]
    [InlineData("{% for a, b in [1] %}{% endfor %}", "cannot unpack")]
    [InlineData("{{ 9223372036854775807 + 1 }}", "integer overflow")]
    public void RenderErrorsAreChatTemplateExceptions(string source, string message)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(source));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void StrftimeNowUsesTheInjectedClock()
    {
        var options = new ChatTemplateOptions { Now = () => new DateTimeOffset(2024, 7, 5, 14, 3, 9, TimeSpan.Zero) };
        Assert.Equal("05 Jul 2024|2024-07-05 14:03:09|Friday July 5 02PM",
            Render("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|{{ strftime_now('%A %B %-d %I%p') }}", options));
    }

    [Fact]
    public void BosAndEosAreUndefinedWhenNull()
    {
        var t = ChatTemplate.Parse("[{{ bos_token }}][{{ eos_token is defined }}]{{ messages | length }}{{ add_generation_prompt }}");
        Assert.Equal("[][False]1False", t.Render([new("user", "x")], false, null, null));
    }

    [Fact]
    public void ExtraVariablesAcceptDotNetValues()
    {
        var t = ChatTemplate.Parse("{{ flag }} {{ n + 1 }} {{ f }} {{ tools | tojson }} {{ nested.a[1] }}");
        var extra = new Dictionary<string, object?>
        {
            ["flag"] = false,
            ["n"] = 41,
            ["f"] = 0.25f,
            ["tools"] = new List<object?> { new Dictionary<string, object?> { ["name"] = "f", ["x"] = null } },
            ["nested"] = System.Text.Json.JsonDocument.Parse("{\"a\": [1, 2.5]}").RootElement,
        };
        Assert.Equal("False 42 0.25 [{\"name\": \"f\", \"x\": null}] 2.5", t.Render([], false, null, null, extra));
    }

    // ---- well-known templates, expected strings derived by reading them ----

    private const string ChatML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private const string Mistral = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

    private const string Gemma = "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}";

    private const string Phi3 = "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}";

    private static readonly List<ChatMessage> Dialog = [new("user", "Hi"), new("assistant", "Hello!"), new("user", " How are you? ")];

    [Fact]
    public void ChatMLTemplate() =>
        Assert.Equal("<|im_start|>system\nBe nice.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
            ChatTemplate.Parse(ChatML).Render([new("system", "Be nice."), new("user", "Hi")], true, null, null));

    [Fact]
    public void MistralTemplate()
    {
        var t = ChatTemplate.Parse(Mistral);
        Assert.Equal("<s>[INST] Hi [/INST]Hello!</s>[INST]  How are you?  [/INST]", t.Render(Dialog, true, "<s>", "</s>"));
        var e = Assert.Throws<ChatTemplateException>(() => t.Render([new("user", "a"), new("user", "b")], true, "<s>", "</s>"));
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", e.Message);
        e = Assert.Throws<ChatTemplateException>(() => t.Render([new("system", "a")], true, "<s>", "</s>"));
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", e.Message);
    }

    [Fact]
    public void GemmaTemplate()
    {
        var t = ChatTemplate.Parse(Gemma);
        Assert.Equal("<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\nHow are you?<end_of_turn>\n<start_of_turn>model\n",
            t.Render(Dialog, true, "<bos>", "<eos>"));
        Assert.Equal("System role not supported", Assert.Throws<ChatTemplateException>(() => t.Render([new("system", "x")], true, "<bos>", "<eos>")).Message);
    }

    [Fact]
    public void Phi3Template()
    {
        var t = ChatTemplate.Parse(Phi3);
        Assert.Equal("<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\n How are you? <|end|>\n<|assistant|>\n", t.Render(Dialog, true, "<s>", "<|endoftext|>"));
        Assert.Equal("<|user|>\nHi<|end|>\n<|endoftext|>", t.Render([new("user", "Hi")], false, "<s>", "<|endoftext|>"));
    }

    [Fact]
    public void FromGgufReadsTheTemplateOrReturnsNull()
    {
        using var dir = new TempDir();
        string with = Path.Combine(dir.Path, "with.gguf"), without = Path.Combine(dir.Path, "without.gguf");
        var w = new GgufWriter();
        w.Add("general.architecture", "llama");
        w.Write(without);
        w.Add("tokenizer.chat_template", ChatML);
        w.Write(with);
        using (var f = GgufFile.Open(without)) Assert.Null(ChatTemplate.FromGguf(f.Metadata));
        using (var f = GgufFile.Open(with))
        {
            var t = ChatTemplate.FromGguf(f.Metadata);
            Assert.NotNull(t);
            Assert.Equal("<|im_start|>user\nx<|im_end|>\n", t.Render([new("user", "x")], false, null, null));
        }
    }

    // ---- hostile templates: a clear ChatTemplateException, quickly ----

    [Theory]
    [InlineData("{% for i in range(100000000) %}{% endfor %}", "evaluation budget")]
    [InlineData("{% for i in range(100000000) %}{% for j in range(100000000) %}x{% endfor %}{% endfor %}", "budget")]
    [InlineData("{{ 'x' * 100000000 }}", "over the limit")]
    [InlineData("{{ range(100000000) | list | length }}", "over the limit")]
    [InlineData("{% set ns = namespace(s='xxxxxxxxxx') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "over the limit")]
    [InlineData("{% set ns = namespace(l=[1]) %}{% for i in range(100) %}{% set ns.l = ns.l + ns.l %}{% endfor %}", "over the limit")]
    [InlineData("{% for i in range(10000000) %}{{ 'abcdefghij' * 10 }}{% endfor %}", "output exceeded")]
    [InlineData("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "too deep")]
    [InlineData("{% macro f(n) %}{{ f(n + 1) }}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "too deep")]
    [InlineData("{{ 10 ** 100000 }}", "integer overflow")]
    public void HostileTemplatesFailFast(string source, string message)
    {
        var sw = Stopwatch.StartNew();
        var e = Assert.Throws<ChatTemplateException>(() => Render(source));
        Assert.Contains(message, e.Message);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), $"took {sw.Elapsed}");
    }

    [Theory]
    [InlineData("(", ")", 100_000)]
    [InlineData("[", "]", 100_000)]
    [InlineData("{% if true %}", "{% endif %}", 50_000)]
    [InlineData("{% for x in [1] %}", "{% endfor %}", 50_000)]
    [InlineData("not ", "", 100_000)]
    [InlineData("-", "", 100_000)]
    public void DeepNestingIsRejectedAtParse(string open, string close, int depth)
    {
        string inner = open.StartsWith("{%", StringComparison.Ordinal) ? "x" : "1";
        string body = string.Concat(Enumerable.Repeat(open, depth)) + inner + string.Concat(Enumerable.Repeat(close, depth));
        string source = open.StartsWith("{%", StringComparison.Ordinal) ? body : "{{ " + body + " }}";
        var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(source));
        Assert.Contains("too deep", e.Message);
    }

    [Fact]
    public void LongFlatExpressionsAreBoundedAtRender()
    {
        // 1+1+...+1 parses iteratively into a deep left-leaning tree; evaluation depth is bounded.
        string source = "{{ " + string.Join(" + ", Enumerable.Repeat("1", 100_000)) + " }}";
        var e = Assert.Throws<ChatTemplateException>(() => Render(source));
        Assert.Contains("too deep", e.Message);
        Assert.Equal("300", Render("{{ " + string.Join(" + ", Enumerable.Repeat("1", 300)) + " }}"));
    }

    [Fact]
    public void LimitsAreConfigurable()
    {
        var tight = new ChatTemplateOptions { MaxSteps = 1000 };
        Assert.Contains("evaluation budget of 1000", Assert.Throws<ChatTemplateException>(() => Render("{% for i in range(2000) %}{% endfor %}", tight)).Message);
        var small = new ChatTemplateOptions { MaxOutputChars = 10 };
        Assert.Contains("output exceeded", Assert.Throws<ChatTemplateException>(() => Render("{% for i in range(20) %}x{% endfor %}", small)).Message);
    }

    [Fact]
    public void MutatedTemplatesFailOnlyWithChatTemplateException()
    {
        // Random edits of a feature-rich template: every outcome is output or a ChatTemplateException.
        const string seed = "{%- set ns = namespace(n=0) -%}{% macro m(a, b=2) %}{{ a ~ b }}{% endmacro %}"
            + "{% for x in messages[::-1] if x.role != 'system' %}{{ loop.index }}{{ m(x.content | trim, b=loop.length) }}"
            + "{% set ns.n = ns.n + (x.content | length) %}{% if x.content.startswith('U') %}{{ x.content.split('1')[0] }}{% endif %}"
            + "{% endfor %}{{ ns.n // 2 }}{{ xs | sort | tojson(indent=1) }}{{ d.items() | list }}{{ range(3) | join(',') }}"
            + "{{ 'a b'.replace(' ', '') * 2 }}{{ xs[1:] }}{{ s is string and 3 is divisibleby 3 }}";
        const string alphabet = "{}%#-+()[]|.,:'\"~*/=<>!0123456789 abcdefghijklmnopqrstuvwxyz_\n";
        var rng = new Random(1234);
        var limits = new ChatTemplateOptions { MaxSteps = 20_000, MaxOutputChars = 100_000 };
        for (int iter = 0; iter < 3000; iter++)
        {
            var chars = seed.ToCharArray().ToList();
            for (int k = rng.Next(1, 4); k > 0; k--)
            {
                int at = rng.Next(chars.Count);
                switch (rng.Next(3))
                {
                    case 0: chars.RemoveAt(at); break;
                    case 1: chars.Insert(at, alphabet[rng.Next(alphabet.Length)]); break;
                    default: chars[at] = alphabet[rng.Next(alphabet.Length)]; break;
                }
            }
            string source = new(chars.ToArray());
            try
            {
                Render(source, limits);
            }
            catch (ChatTemplateException)
            {
            }
            catch (Exception e)
            {
                Assert.Fail($"{e.GetType().Name}: {e.Message}\n{source}");
            }
        }
    }
}
