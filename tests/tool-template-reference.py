#!/usr/bin/env python3
"""Renders conversations with tools, tool calls and tool results through the family templates, with Python Jinja2
set up exactly as Hugging Face transformers renders chat templates (as tests/chat-reference.py does), and prints
tests/Strata.Tests/Chat/tool-template-reference.json:
    python3 tests/tool-template-reference.py > tests/Strata.Tests/Chat/tool-template-reference.json
The templates are tests/Strata.Tests/Chat/Templates/*.jinja (written in the style of the families' real ones) and
Qwen3's own, from the tokenizer cache that tests/fetch-tokenizers.sh fills. Tool calls are passed as HF and vLLM pass
them: {"id", "type": "function", "function": {"name", "arguments": <dict>}}.
"""
import json
import os
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

here = os.path.dirname(os.path.abspath(__file__))
cache = os.environ.get("STRATA_TOKENIZER_CACHE", os.path.join(here, "Strata.Tests", ".data", "tokenizers"))


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

tools = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city, \"now\" \u2014 in \u00b0C",
                                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                                                     "required": ["city"]}}},
    {"type": "function", "function": {"name": "get_time", "description": "The time in a zone",
                                      "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}}},
]


def call(id, name, arguments):
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


weather = call("a1b2c3d4e", "get_weather", {"city": "Paris", "days": 2})
time = call("f5g6h7i8j", "get_time", {"zone": "CET"})
conversations = {
    "ask": [{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Weather in Paris?"}],
    "called": [{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Weather in Paris?"},
               {"role": "assistant", "content": "", "tool_calls": [weather]},
               {"role": "tool", "tool_call_id": "a1b2c3d4e", "name": "get_weather", "content": "{\"temp\": 21}"}],
    "called_with_text": [{"role": "user", "content": "Weather in Paris?"},
                         {"role": "assistant", "content": "Let me check.", "tool_calls": [weather]},
                         {"role": "tool", "tool_call_id": "a1b2c3d4e", "name": "get_weather", "content": "sunny"}],
    "parallel": [{"role": "user", "content": "Weather and time in Paris?"},
                 {"role": "assistant", "content": "", "tool_calls": [weather, time]},
                 {"role": "tool", "tool_call_id": "a1b2c3d4e", "name": "get_weather", "content": "sunny"},
                 {"role": "tool", "tool_call_id": "f5g6h7i8j", "name": "get_time", "content": "9:00"},
                 {"role": "assistant", "content": "Sunny, and it is 9:00."},
                 {"role": "user", "content": "Thanks"}],
}

templates = []
for name in ["qwen2.5", "hermes", "llama3.1", "mistral", "qwen3"]:
    if name == "qwen3":
        with open(os.path.join(cache, "qwen3", "tokenizer_config.json"), encoding="utf-8") as f:
            source, file, tokenizer = json.load(f)["chat_template"], None, "qwen3"
    else:
        file, tokenizer = f"{name}.jinja", None
        with open(os.path.join(here, "Strata.Tests", "Chat", "Templates", file), encoding="utf-8") as f:
            source = f.read()
    template = env.from_string(source)
    bos, eos = {"llama3.1": ("<|begin_of_text|>", "<|eot_id|>"), "mistral": ("<s>", "</s>"), "hermes": ("<|begin_of_text|>", "<|im_end|>")}.get(name, (None, None))
    cases = []
    for conv, messages in conversations.items():
        for with_tools in (True, False):
            for kwargs in ([{}, {"enable_thinking": False}] if name == "qwen3" else [{}]):
                case = {"conversation": conv, "tools": with_tools, "kwargs": kwargs}
                special = {k: v for k, v in (("bos_token", bos), ("eos_token", eos)) if v is not None}
                try:
                    case["py_output"] = template.render(messages=messages, tools=tools if with_tools else None, documents=None,
                                                        add_generation_prompt=True, **special, **kwargs)
                except jinja2.exceptions.TemplateError as e:
                    case["py_error"] = str(e)
                cases.append(case)
    templates.append({"name": name, "file": file, "tokenizer": tokenizer, "bos_token": bos, "eos_token": eos, "cases": cases})

json.dump({"tools": tools, "conversations": conversations, "templates": templates}, sys.stdout, ensure_ascii=False, indent=1)
sys.stdout.write("\n")
