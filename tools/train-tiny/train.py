#!/usr/bin/python3
"""Trains the tiny Llama on the prepared KJV text, on one CPU thread.

Deterministic given --seed and the other arguments: parameter init comes from torch.manual_seed(seed), and the
batch for step s is drawn from a generator seeded with (seed, s), so a run resumed from a checkpoint sees exactly
the batches the uninterrupted run would have. The learning-rate schedule (linear warmup, cosine decay to
--min-lr-frac) depends on --steps only; --minutes is a safety stop that ends the run early (saving a checkpoint)
if the machine is slower than expected.

Writes under --work: train.bin / heldout.bin (token ids, uint16; made on first use), ckpt.pt (latest checkpoint,
written every --ckpt-every steps and at the end), and prints progress lines.
"""
import argparse
import math
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpe  # noqa: E402
from model import Config, Llama  # noqa: E402

EOS_LINE = "<|end_of_text|>\n"


def encode_file(tok, txt, out):
    with open(txt, encoding="utf-8") as f:
        docs = [d + "<|end_of_text|>" for d in f.read().split(EOS_LINE) if d]
    ids = []
    for d in docs:
        ids.extend(tok.encode(d))
    arr = np.array(ids, dtype=np.uint16)
    arr.tofile(out)
    return arr


def load_data(work):
    tok = bpe.Tokenizer(os.path.join(work, "tokenizer.json"))
    data = {}
    for name in ("train", "heldout"):
        path = os.path.join(work, f"{name}.bin")
        if os.path.exists(path) and os.path.getmtime(path) > os.path.getmtime(os.path.join(work, "tokenizer.json")):
            data[name] = np.fromfile(path, dtype=np.uint16)
        else:
            data[name] = encode_file(tok, os.path.join(work, f"{name}.txt"), path)
    return tok, data


def get_batch(data, step, seed, batch, seq):
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    starts = torch.randint(0, len(data) - seq - 1, (batch,), generator=g).tolist()
    x = torch.from_numpy(np.stack([data[s:s + seq] for s in starts]).astype(np.int64))
    y = torch.from_numpy(np.stack([data[s + 1:s + seq + 1] for s in starts]).astype(np.int64))
    return x, y


@torch.no_grad()
def heldout_loss(model, data, seq, batch=8):
    """Mean next-token loss over all non-overlapping windows of the held-out tokens."""
    model.eval()
    n = (len(data) - 1) // seq
    total, count = 0.0, 0
    for i in range(0, n, batch):
        idx = range(i, min(n, i + batch))
        x = torch.from_numpy(np.stack([data[j * seq:(j + 1) * seq] for j in idx]).astype(np.int64))
        y = torch.from_numpy(np.stack([data[j * seq + 1:(j + 1) * seq + 1] for j in idx]).astype(np.int64))
        _, loss = model(x, y)
        total += loss.item() * x.numel()
        count += x.numel()
    model.train()
    return total / count


def lr_at(step, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    p = min(1.0, (step - a.warmup) / max(1, a.steps - a.warmup))
    return a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))


def fmt_time(s):
    s = int(max(0, s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def save(path, model, opt, step, args, tokens_seen, train_seconds):
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "args": vars(args),
                "config": model.config.to_dict(), "tokens_seen": tokens_seen, "train_seconds": train_seconds}, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=os.path.join(HERE, ".work"))
    ap.add_argument("--seed", type=int, default=1611)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=768)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--minutes", type=float, default=55.0, help="stop early after this much training time")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--ckpt", default=None, help="checkpoint path (default WORK/ckpt.pt)")
    ap.add_argument("--resume", action="store_true", help="continue from the checkpoint if there is one")
    args = ap.parse_args()
    ckpt_path = args.ckpt or os.path.join(args.work, "ckpt.pt")

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    tok, data = load_data(args.work)
    cfg = Config(vocab_size=len(tok), dim=args.dim, n_layers=args.layers, n_heads=args.heads,
                 n_kv_heads=args.kv_heads, ffn_dim=args.ffn, max_seq_len=max(512, args.seq))
    model = Llama(cfg)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    step, tokens_seen, prior_seconds = 0, 0, 0.0
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, tokens_seen, prior_seconds = ck["step"], ck["tokens_seen"], ck["train_seconds"]
        print(f"resumed from {ckpt_path} at step {step}", flush=True)

    tpb = args.batch * args.seq
    print(f"model: {model.num_params():,} parameters ({cfg}); train {len(data['train']):,} tokens, "
          f"held-out {len(data['heldout']):,} tokens; {tpb} tokens/step, {args.steps} steps "
          f"({args.steps * tpb / len(data['train']):.2f} epochs); threads {torch.get_num_threads()}", flush=True)

    t_start = time.time()
    t_log, tok_log, loss_acc, loss_n = t_start, 0, 0.0, 0
    budget = args.minutes * 60
    stopped_early = False
    while step < args.steps:
        lr = lr_at(step, args)
        for gr in opt.param_groups:
            gr["lr"] = lr
        x, y = get_batch(data["train"], step, args.seed, args.batch, args.seq)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        step += 1
        tokens_seen += tpb
        tok_log += tpb
        loss_acc += loss.item()
        loss_n += 1
        elapsed = prior_seconds + time.time() - t_start
        if step % args.log_every == 0 or step == args.steps:
            now = time.time()
            tps = tok_log / (now - t_log)
            left = min((args.steps - step) * tpb / tps, max(0.0, budget - elapsed))
            print(f"step {step:5d}/{args.steps} | loss {loss_acc / loss_n:.4f} | lr {lr:.2e} | {tps:6.0f} tok/s | "
                  f"seen {tokens_seen / 1e6:.2f}M | elapsed {fmt_time(elapsed)} | left {fmt_time(left)}", flush=True)
            t_log, tok_log, loss_acc, loss_n = now, 0, 0.0, 0
        if step % args.eval_every == 0 or step == args.steps:
            hl = heldout_loss(model, data["heldout"], args.seq)
            print(f"eval step {step}: held-out loss {hl:.4f}, perplexity {math.exp(hl):.2f}", flush=True)
        if step % args.ckpt_every == 0 or step == args.steps:
            save(ckpt_path, model, opt, step, args, tokens_seen, prior_seconds + time.time() - t_start)
        if elapsed >= budget and step < args.steps:
            stopped_early = True
            break
    total = prior_seconds + time.time() - t_start
    save(ckpt_path, model, opt, step, args, tokens_seen, total)
    hl = heldout_loss(model, data["heldout"], args.seq)
    print(f"done{' (time budget reached before the last step)' if stopped_early else ''}: step {step}, "
          f"{tokens_seen:,} tokens, {fmt_time(total)}; held-out loss {hl:.4f}, perplexity {math.exp(hl):.2f}; "
          f"checkpoint {ckpt_path}", flush=True)


if __name__ == "__main__":
    main()
