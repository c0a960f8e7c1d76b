#!/usr/bin/python3
"""Generates text from the trained model and measures held-out perplexity, in PyTorch.

Loads either a training checkpoint (--ckpt) or an exported Hugging Face folder (--hf, read through export_hf's own
safetensors reader, which checks the export). --quant emulates the GGUF weight types on the 2-D weights before
measuring: f16 rounds to half precision, q8_0 quantizes rows in blocks of 32 with one f16 scale per block
(max |x| / 127, round to nearest) as ggml's Q8_0 does; norms stay f32. (Strata's own Q8_0 matmuls also quantize
activations, which this does not emulate.)

Held-out perplexity is exp(mean next-token loss) over all non-overlapping --seq-token windows of the held-out
chapters (tokens of this model's tokenizer); bits per byte = total loss / ln 2 / UTF-8 bytes of those tokens.
"""
import argparse
import math
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpe  # noqa: E402
from export_hf import load_checkpoint, read_safetensors  # noqa: E402
from model import Config, Llama, generate  # noqa: E402
import json  # noqa: E402

PROMPTS = ["In the beginning", "And the LORD said unto Moses,", "Blessed are the", "The LORD is my shepherd;"]
CHAT = ["Psalms 23:1", "John 3:16"]


def load_hf(folder):
    with open(os.path.join(folder, "config.json")) as f:
        hc = json.load(f)
    c = Config(vocab_size=hc["vocab_size"], dim=hc["hidden_size"], n_layers=hc["num_hidden_layers"],
               n_heads=hc["num_attention_heads"], n_kv_heads=hc["num_key_value_heads"], ffn_dim=hc["intermediate_size"],
               max_seq_len=max(512, hc["max_position_embeddings"]), rope_theta=hc["rope_theta"],
               norm_eps=hc["rms_norm_eps"], tie_embeddings=hc["tie_word_embeddings"])
    model = Llama(c)
    sd = {(k[len("model."):] if k.startswith("model.") else k): torch.from_numpy(v.astype(np.float32))
          for k, v in read_safetensors(os.path.join(folder, "model.safetensors")).items()}
    model.load_state_dict(sd)
    model.eval()
    return model


def quantize_(model, kind):
    if kind == "f32":
        return
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() < 2:
                continue
            if kind == "f16":
                p.copy_(p.half().float())
            elif kind == "q8_0":
                blocks = p.reshape(-1, 32)
                d = (blocks.abs().amax(dim=1, keepdim=True) / 127.0).half().float()
                q = torch.where(d > 0, torch.round(blocks / torch.where(d > 0, d, torch.ones_like(d))), torch.zeros_like(blocks))
                p.copy_((q.clamp(-127, 127) * d).reshape(p.shape))


@torch.no_grad()
def heldout(model, tok, data, seq):
    n = (len(data) - 1) // seq
    total, count, nbytes = 0.0, 0, 0
    for i in range(0, n, 8):
        idx = range(i, min(n, i + 8))
        x = torch.from_numpy(np.stack([data[j * seq:(j + 1) * seq] for j in idx]).astype(np.int64))
        y = torch.from_numpy(np.stack([data[j * seq + 1:(j + 1) * seq + 1] for j in idx]).astype(np.int64))
        _, loss = model(x, y)
        total += loss.item() * y.numel()
        count += y.numel()
        nbytes += len(tok.decode(y.reshape(-1).tolist()).encode("utf-8"))
    return total / count, total / math.log(2) / nbytes, count


@torch.no_grad()
def llama_cpp_perplexity(model, toks, ctx, bos):
    """llama.cpp's perplexity: chunks of ctx tokens, first token of each replaced by BOS, only the second half of
    each chunk scored."""
    total, count = 0.0, 0
    for c in range(len(toks) // ctx):
        chunk = list(toks[c * ctx:(c + 1) * ctx])
        chunk[0] = bos
        logits = model(torch.tensor([chunk]))[0]
        first = ctx // 2
        lp = logits[first:ctx - 1].log_softmax(-1)
        tgt = torch.tensor(chunk[first + 1:ctx])
        total -= lp.gather(1, tgt[:, None]).sum().item()
        count += len(tgt)
    return math.exp(total / count)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(HERE, ".work", "ckpt.pt"))
    ap.add_argument("--hf", default=None, help="exported folder to load instead of the checkpoint")
    ap.add_argument("--work", default=os.path.join(HERE, ".work"))
    ap.add_argument("--quant", default="f32", help="comma-separated: f32,f16,q8_0")
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--tokens", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-ppl", action="store_true")
    ap.add_argument("--no-gen", action="store_true")
    ap.add_argument("--ppl-file", default=None,
                    help="also compute llama.cpp-style perplexity of a plain text file (as `strata perplexity`)")
    args = ap.parse_args()
    torch.set_num_threads(1)

    tok = bpe.Tokenizer(os.path.join(args.hf or args.work, "tokenizer.json"))
    bos, end, eot = tok.special["<|begin_of_text|>"], tok.special["<|end|>"], tok.special["<|end_of_text|>"]
    for kind in args.quant.split(","):
        model = load_hf(args.hf) if args.hf else load_checkpoint(args.ckpt)[0]
        quantize_(model, kind)
        if not args.no_ppl:
            data = np.fromfile(os.path.join(args.work, "heldout.bin"), dtype=np.uint16)
            loss, bpb, n = heldout(model, tok, data, args.seq)
            print(f"[{kind}] held-out: loss {loss:.4f}, perplexity {math.exp(loss):.2f}, {bpb:.4f} bits/byte "
                  f"({n} tokens, windows of {args.seq})", flush=True)
        if args.ppl_file:
            with open(args.ppl_file, encoding="utf-8") as f:
                toks = [bos] + tok.encode(f.read(), specials=False)
            ppl = llama_cpp_perplexity(model, toks, args.seq, bos)
            print(f"[{kind}] {args.ppl_file}: llama.cpp-style perplexity {ppl:.4f} (ctx {args.seq})", flush=True)
    if args.no_gen:
        return
    g = torch.Generator().manual_seed(args.seed)
    for p in PROMPTS:
        ids = [bos] + tok.encode(p, specials=False)
        greedy = tok.decode(generate(model, ids, args.tokens, stop={eot}))
        sampled = tok.decode(generate(model, ids, args.tokens, temperature=0.8, top_p=0.95, stop={eot}, generator=g))
        print(f"--- {p!r}\n[greedy]  {p}{greedy}\n[sampled] {p}{sampled}", flush=True)
    for q in CHAT:
        ids = [bos] + tok.encode(f"<|user|>\n{q}<|end|>\n<|assistant|>\n")
        ans = tok.decode(generate(model, ids, args.tokens, temperature=0.0, stop={end, eot}))
        print(f"--- chat {q!r}\n[greedy]  {ans}", flush=True)


if __name__ == "__main__":
    main()
