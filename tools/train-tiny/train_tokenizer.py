#!/usr/bin/python3
"""Trains a byte-level BPE tokenizer (Llama 3 pre-tokenizer regex, GPT-2 byte map) on the training text and writes
Hugging Face tokenizer.json and tokenizer_config.json.

Vocabulary layout: ids 0..255 the 256 byte tokens (in byte order), then one token per merge in merge order, then
the special tokens (bpe.SPECIAL_TOKENS) at the end. Deterministic: ties between equally frequent pairs go to the
lexicographically smallest pair.
"""
import argparse
import collections
import json
import os
import time

import bpe

HERE = os.path.dirname(os.path.abspath(__file__))

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def train_bpe(word_counts, n_merges):
    words = [list(w) for w in word_counts]
    counts = list(word_counts.values())
    pair_counts = collections.Counter()
    where = collections.defaultdict(set)
    for i, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pair_counts[(a, b)] += counts[i]
            where[(a, b)].add(i)
    merges = []
    t0 = time.time()
    for m in range(n_merges):
        if not pair_counts:
            break
        best = min(pair_counts, key=lambda p: (-pair_counts[p], p))
        if pair_counts[best] < 2:
            break
        merges.append(best)
        merged = best[0] + best[1]
        for i in sorted(where.pop(best)):
            w = words[i]
            c = counts[i]
            if len(w) < 2:
                continue
            for a, b in zip(w, w[1:]):
                pair_counts[(a, b)] -= c
                if pair_counts[(a, b)] <= 0:
                    del pair_counts[(a, b)]
            out, j = [], 0
            while j < len(w):
                if j < len(w) - 1 and w[j] == best[0] and w[j + 1] == best[1]:
                    out.append(merged)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = out
            for a, b in zip(out, out[1:]):
                pair_counts[(a, b)] += c
                where[(a, b)].add(i)
        if (m + 1) % 500 == 0:
            print(f"  {m + 1} merges, last {merged!r}, {time.time() - t0:.1f}s", flush=True)
    return merges


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=os.path.join(HERE, ".work"))
    ap.add_argument("--vocab-size", type=int, default=4096)
    ap.add_argument("--model-max-length", type=int, default=512)
    args = ap.parse_args()

    with open(os.path.join(args.work, "train.txt"), encoding="utf-8") as f:
        text = f.read()
    for s in bpe.SPECIAL_TOKENS:
        text = text.replace(s, "\n")
    word_counts = collections.Counter(bpe.pretokenize(text))
    # Sort for a deterministic word order independent of hashing.
    word_counts = dict(sorted(word_counts.items()))
    print(f"{len(word_counts)} distinct pre-tokens, {sum(word_counts.values())} in all")

    n_merges = args.vocab_size - 256 - len(bpe.SPECIAL_TOKENS)
    merges = train_bpe(word_counts, n_merges)
    assert len(merges) == n_merges, f"only {len(merges)} merges found"

    vocab = {bpe.BYTE_ENCODER[b]: b for b in range(256)}
    for a, b in merges:
        assert a + b not in vocab
        vocab[a + b] = len(vocab)
    specials = {s: len(vocab) + i for i, s in enumerate(bpe.SPECIAL_TOKENS)}
    bos, eos = "<|begin_of_text|>", "<|end_of_text|>"

    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for s, i in specials.items()]
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": bpe.LLAMA3_PATTERN}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
            ],
        },
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [specials[bos]], "tokens": [bos]}},
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
            "vocab": vocab,
            "merges": [f"{a} {b}" for a, b in merges],
        },
    }
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": bos,
        "eos_token": eos,
        "clean_up_tokenization_spaces": False,
        "model_max_length": args.model_max_length,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": CHAT_TEMPLATE,
        "added_tokens_decoder": {str(a["id"]): {k: v for k, v in a.items() if k != "id"} for a in added},
    }
    with open(os.path.join(args.work, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False, indent=2)
    with open(os.path.join(args.work, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)

    tok = bpe.Tokenizer(os.path.join(args.work, "tokenizer.json"))
    with open(os.path.join(args.work, "train.txt"), encoding="utf-8") as f:
        sample = f.read(200000)
    ids = tok.encode(sample)
    assert tok.decode(ids) == sample
    print(f"vocab {len(tok)} ({len(merges)} merges); {len(sample.encode()) / len(ids):.2f} bytes per token on a sample")


if __name__ == "__main__":
    main()
