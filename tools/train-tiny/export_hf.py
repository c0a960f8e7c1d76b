#!/usr/bin/python3
"""Exports a training checkpoint as a Hugging Face LlamaForCausalLM folder:
model.safetensors (written by hand: no safetensors package needed), config.json, generation_config.json,
tokenizer.json, tokenizer_config.json.

safetensors layout: 8-byte little-endian header length N, N bytes of JSON
({name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, space-padded to a multiple of 8),
then the raw little-endian tensor data, offsets relative to the end of the header.
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from model import Config, Llama  # noqa: E402

DTYPES = {"f32": (np.float32, "F32", "float32"), "f16": (np.float16, "F16", "float16")}


def write_safetensors(path, tensors, metadata=None):
    """tensors: name -> numpy array (little-endian). Written in sorted name order, as safetensors does."""
    header, offset, names = {}, 0, sorted(tensors)
    for name in names:
        a = tensors[name]
        code = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16"}[a.dtype]
        header[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name in names:
            f.write(np.ascontiguousarray(tensors[name]).astype(tensors[name].dtype.newbyteorder("<")).tobytes())


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        dt = {"F32": "<f4", "F16": "<f2"}[h["dtype"]]
        b, e = h["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(h["shape"])
    return out


def load_checkpoint(path):
    ck = torch.load(path, map_location="cpu")
    model = Llama(Config(**ck["config"]))
    model.load_state_dict(ck["model"])
    model.eval()
    return model, ck


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(HERE, ".work", "ckpt.pt"))
    ap.add_argument("--work", default=os.path.join(HERE, ".work"), help="where tokenizer.json / tokenizer_config.json are")
    ap.add_argument("--out", default=os.path.join(HERE, ".work", "hf"))
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="f16")
    ap.add_argument("--max-position-embeddings", type=int, default=None,
                    help="context length to declare (default: the training sequence length)")
    args = ap.parse_args()

    model, ck = load_checkpoint(args.ckpt)
    c = model.config
    np_dtype, _, torch_dtype = DTYPES[args.dtype]
    tensors = {k: v.detach().float().numpy().astype(np_dtype) for k, v in model.hf_state_dict().items()}
    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, "model.safetensors"), tensors, {"format": "pt"})

    with open(os.path.join(args.work, "tokenizer_config.json"), encoding="utf-8") as f:
        tc = json.load(f)
    with open(os.path.join(args.work, "tokenizer.json"), encoding="utf-8") as f:
        specials = {a["content"]: a["id"] for a in json.load(f)["added_tokens"]}
    bos, eos, end = specials[tc["bos_token"]], specials[tc["eos_token"]], specials["<|end|>"]
    ctx = args.max_position_embeddings or ck["args"]["seq"]
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": c.vocab_size,
        "hidden_size": c.dim,
        "intermediate_size": c.ffn_dim,
        "num_hidden_layers": c.n_layers,
        "num_attention_heads": c.n_heads,
        "num_key_value_heads": c.n_kv_heads,
        "head_dim": c.dim // c.n_heads,
        "hidden_act": "silu",
        "max_position_embeddings": ctx,
        "initializer_range": 0.02,
        "rms_norm_eps": c.norm_eps,
        "rope_theta": c.rope_theta,
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": c.tie_embeddings,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "torch_dtype": torch_dtype,
        "use_cache": True,
    }
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": bos, "eos_token_id": [eos, end], "do_sample": True, "temperature": 0.8,
                   "top_p": 0.95}, f, indent=2)
    tc = dict(tc, model_max_length=ctx)
    with open(os.path.join(args.out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tc, f, ensure_ascii=False, indent=2)
    shutil.copyfile(os.path.join(args.work, "tokenizer.json"), os.path.join(args.out, "tokenizer.json"))

    # Round trip: the file must read back to the same values.
    back = read_safetensors(os.path.join(args.out, "model.safetensors"))
    assert back.keys() == tensors.keys() and all(np.array_equal(back[k], tensors[k]) for k in tensors)
    size = os.path.getsize(os.path.join(args.out, "model.safetensors"))
    print(f"wrote {args.out}: {len(tensors)} tensors, {model.num_params():,} parameters, {args.dtype}, "
          f"model.safetensors {size:,} bytes; step {ck['step']}")


if __name__ == "__main__":
    main()
