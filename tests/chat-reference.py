#!/usr/bin/env python3
"""Adds Python Jinja2 renderings to the chat reference that tests/chat-reference.mjs prints (read from stdin).

Jinja2 is set up exactly as Hugging Face transformers renders chat templates (chat_template_utils): an
ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and loop controls, json.dumps-based tojson,
raise_exception and strftime_now. Each case gets "py_output" or "py_error" next to the Node "output" or "error".
    node tests/chat-reference.mjs | python3 tests/chat-reference.py > tests/Strata.Tests/Chat/chat-reference.json
"""
import json
import os
import sys
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

here = os.path.dirname(os.path.abspath(__file__))
cache = os.environ.get("STRATA_TOKENIZER_CACHE", os.path.join(here, "Strata.Tests", ".data", "tokenizers"))


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now

ref = json.load(sys.stdin)
for t in ref["templates"]:
    source = t["source"]
    if source is None:
        with open(os.path.join(cache, t["tokenizer"], "tokenizer_config.json"), encoding="utf-8") as f:
            source = json.load(f)["chat_template"]
    template = env.from_string(source)
    special = {k: v for k, v in (("bos_token", t["bos_token"]), ("eos_token", t["eos_token"])) if v is not None}
    for case in t["cases"]:
        extra = dict(ref["extras"][case["extra"]] or {})
        kwargs = {"messages": ref["conversations"][case["conversation"]], "tools": extra.pop("tools", None), "documents": None,
                  "add_generation_prompt": case["add_generation_prompt"], **special, **extra}
        try:
            case["py_output"] = template.render(**kwargs)
        except jinja2.exceptions.TemplateError as e:
            case["py_error"] = str(e)
json.dump(ref, sys.stdout, ensure_ascii=False, indent=1)
sys.stdout.write("\n")
