// Renders a set of conversations with real chat templates through Hugging Face's own apply_chat_template
// (@lenml/tokenizers = transformers.js, built on @huggingface/jinja) and prints the results as JSON.
// The real templates come from the tokenizer_config.json files; the inline ones below are well-known model templates,
// rendered with the Llama 2 tokenizer's special tokens (bos "<s>", eos "</s>").
// The @huggingface/jinja bundled here predates some syntax (qwen3's [::-1], macros, ~); where it fails to parse, the
// case records the error, and tests/chat-reference.py adds the rendering of Python Jinja2 set up as transformers does.
// Run tests/fetch-tokenizers.sh --with-node first, then:
//   node tests/chat-reference.mjs | python3 tests/chat-reference.py > tests/Strata.Tests/Chat/chat-reference.json
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const cache = process.env.STRATA_TOKENIZER_CACHE ?? join(here, "Strata.Tests", ".data", "tokenizers");
const require = createRequire(join(cache, "index.js"));
const { TokenizerLoader } = require("@lenml/tokenizers");

const load = (name) => TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(readFileSync(join(cache, name, "tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(readFileSync(join(cache, name, "tokenizer_config.json"), "utf8")),
});

const inline = {
  chatml: "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  mistral: "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
  gemma: "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}",
  phi3: "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}",
  llama2: "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
  zephyr: "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
  // Not a model's: exercises namespace, filters, slicing, loop variables, macros and whitespace control together.
  features: `{#- a comment -#}
{%- macro turn(role, text, n=1) -%}
<{{ role | upper }}#{{ n }}>{{ text | trim }}</{{ role }}>
{%- endmacro -%}
{%- set ns = namespace(count=0, roles=[]) -%}
{%- for m in messages if m.role != 'system' -%}
    {%- set ns.count = ns.count + 1 -%}
    {%- set ns.roles = ns.roles + [m.role] -%}
    {{ turn(m.role, m.content, n=loop.index) }}{% if not loop.last %}|{% endif %}
{%- else -%}
    (no turns)
{%- endfor %}
count={{ ns.count }} roles={{ ns.roles | join(',') }} unique={{ ns.roles | unique | list | length }}
last={{ messages[-1].content[:5] }} rev={{ (messages | map(attribute='role') | list)[::-1] | join(' ') }}
sys={{ messages | selectattr('role', 'equalto', 'system') | list | length }} first={{ (messages | first).role | capitalize }}
{% if messages[0].content is string and messages | length > 1 %}multi{% elif messages | length == 1 %}single{% endif %}
{% for k, v in {'a': 1, 'b': [1, 2]}.items() %}{{ k }}={{ v | tojson }};{% endfor %}
{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 'x' ~ 1 ~ none }} {{ 'ab' * 3 }} {{ 1 in [1, 2] }} {{ 'z' not in 'abc' }}
{{ undefined_var }}|{{ undefined_var | default("dflt") }}|{{ undefined_var is defined }}|{{ none is none }}|{{ messages is iterable }}
{{ "a,b,,c".split(",") | length }} {{ "  x y  ".split() | join("+") }} {{ "Hello World".replace("o", "0") }} {{ "abc".startswith("a") }} {{ 'MiXeD' | lower }}
{{ '%d items' | format(3) }} {{ [3, 1, 2] | sort | join }} {{ [1, 2, 3] | sum }} {{ 'a\\tb' }} {{ "it's" }} {{ 'q"q' }}
{%- if add_generation_prompt %}

<GEN>
{%- endif %}`,
};

const conversations = {
  system_user: [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "Hello!" },
  ],
  user_only: [{ role: "user", content: "What is 2+2?" }],
  multi_turn: [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello. How can I help?" },
    { role: "user", content: "Tell me a joke." },
  ],
  alternating: [
    { role: "user", content: "First question" },
    { role: "assistant", content: "First answer" },
    { role: "user", content: "Second question" },
    { role: "assistant", content: "Second answer" },
  ],
  tricky_content: [
    { role: "user", content: "  He said \"hi\" & 'bye' {{ not a tag }} {% raw %}\n\nnew line 😀 中文 é\\n" },
    { role: "assistant", content: " leading space\ttab  \n" },
    { role: "user", content: "\n\ttrailing newline\n" },
  ],
  thinking: [
    { role: "user", content: "Solve x+1=2" },
    { role: "assistant", content: "<think>\nx = 2 - 1\n</think>\n\nx = 1" },
    { role: "user", content: "And x+2=4?" },
  ],
  tool_turns: [
    { role: "system", content: "Use tools." },
    { role: "user", content: "Weather in Paris?" },
    { role: "assistant", content: "Let me check." },
    { role: "tool", content: "{\"temp\": 21}" },
    { role: "tool", content: "<tool_response>sunny</tool_response>" },
    { role: "user", content: "Thanks" },
  ],
  bad_alternation: [
    { role: "user", content: "one" },
    { role: "user", content: "two" },
  ],
};

const tools = [{
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather for a city, \"now\" — in °C",
    parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer", default: 1 } }, required: ["city"] },
  },
}];

// Extra template variables per case; passed through apply_chat_template's kwargs.
const extras = {
  none: null,
  no_thinking: { enable_thinking: false },
  tools: { tools },
};

const render = (tokenizer, template, messages, add_generation_prompt, extra) => {
  try {
    const { tools: t = null, ...rest } = extra ?? {};
    const output = tokenizer.apply_chat_template(messages, {
      chat_template: template ?? null, add_generation_prompt, tokenize: false, tools: t, ...rest,
    });
    return { output };
  } catch (e) {
    return { error: String(e.message ?? e) };
  }
};

const templates = [];
const llama2 = load("llama2");
for (const [name, tokenizerName, extraNames] of [["llama3", "llama3", ["none"]], ["qwen3", "qwen3", ["none", "no_thinking", "tools"]]]) {
  const tokenizer = load(tokenizerName);
  templates.push({ name, source: null, tokenizer: tokenizerName, bos_token: tokenizer.bos_token, eos_token: tokenizer.eos_token, cases: cases(tokenizer, null, extraNames) });
}
for (const [name, source] of Object.entries(inline)) {
  templates.push({ name, source, tokenizer: "llama2", bos_token: llama2.bos_token, eos_token: llama2.eos_token, cases: cases(llama2, source, ["none"]) });
}

function cases(tokenizer, source, extraNames) {
  const out = [];
  for (const [conversation, messages] of Object.entries(conversations)) {
    for (const add_generation_prompt of [false, true]) {
      for (const extra of extraNames) {
        out.push({ conversation, add_generation_prompt, extra, ...render(tokenizer, source, messages, add_generation_prompt, extras[extra]) });
      }
    }
  }
  return out;
}

process.stdout.write(JSON.stringify({ conversations, extras, templates }, null, 1) + "\n");
