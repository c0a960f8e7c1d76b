#!/usr/bin/python3
"""Extracts the King James Bible from Debian's bible-kjv-text package into training documents.

Output (under tools/train-tiny/.work/ by default):
  chapters.jsonl  one JSON object per chapter: {"book", "chapter", "verses": [...], "split": "train"|"heldout"}
  train.txt       training documents (plain text chapters and a few chat-format examples), separated by
                  <|end_of_text|> lines; special tokens appear literally
  heldout.txt     held-out chapters (plain text only), same layout
  heldout_plain.txt  the held-out chapters without special tokens, separated by blank lines (for perplexity
                  tools that take plain text, such as `strata perplexity`)

The split is deterministic: every 50th chapter (chapter index % 50 == 25, counting all 1189 chapters from
Genesis 1) is held out. Verse numbers are stripped; each verse is one line, a chapter starts with a
"Book N" heading line and a blank line. Chat examples (user: a verse reference, assistant: the verse text)
are drawn with a fixed seed from training chapters only.
"""
import argparse
import json
import os
import random
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
BOS, EOS, END = "<|begin_of_text|>", "<|end_of_text|>", "<|end|>"


def read_kjv():
    raw = subprocess.run(["bible", "-l100000", "Gen1:1-Rev22:21"], check=True, capture_output=True, text=True).stdout
    chapters = []
    cur = None
    for line in raw.split("\n"):
        if not line.strip():
            continue
        m = re.match(r"^\s+(\d+) (.*)$", line)
        if m:
            assert cur is not None and int(m.group(1)) == len(cur["verses"]) + 1, line
            cur["verses"].append(m.group(2).strip())
            continue
        m = re.match(r"^(.+) (\d+)$", line)
        assert m, line
        cur = {"book": m.group(1), "chapter": int(m.group(2)), "verses": []}
        chapters.append(cur)
    return chapters


def chapter_text(c):
    return f"{c['book']} {c['chapter']}\n\n" + "\n".join(c["verses"]) + "\n"


def chat_text(user, assistant):
    return f"<|user|>\n{user}{END}\n<|assistant|>\n{assistant}{END}\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, ".work"))
    ap.add_argument("--seed", type=int, default=1611)
    ap.add_argument("--holdout-every", type=int, default=50)
    ap.add_argument("--chat-per-chapter", type=int, default=2)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    chapters = read_kjv()
    assert len(chapters) == 1189 and sum(len(c["verses"]) for c in chapters) == 31102
    for i, c in enumerate(chapters):
        c["split"] = "heldout" if i % args.holdout_every == args.holdout_every // 2 else "train"

    rng = random.Random(args.seed)
    train_docs, held_docs = [], []
    for c in chapters:
        if c["split"] == "heldout":
            held_docs.append(chapter_text(c))
            continue
        train_docs.append(chapter_text(c))
        for _ in range(args.chat_per_chapter):
            n = len(c["verses"])
            v = rng.randrange(n)
            w = min(n - 1, v + rng.choice([0, 0, 1, 2]))
            ref = f"{c['book']} {c['chapter']}:{v + 1}" + (f"-{w + 1}" if w > v else "")
            train_docs.append(chat_text(ref, "\n".join(c["verses"][v:w + 1])))
    # Shuffle document order once (seeded) so chat examples are spread over the whole corpus.
    rng.shuffle(train_docs)

    with open(os.path.join(args.out, "chapters.jsonl"), "w") as f:
        for c in chapters:
            f.write(json.dumps(c) + "\n")
    for name, docs in (("train.txt", train_docs), ("heldout.txt", held_docs)):
        with open(os.path.join(args.out, name), "w") as f:
            for d in docs:
                f.write(BOS + d + EOS + "\n")
    with open(os.path.join(args.out, "heldout_plain.txt"), "w") as f:
        f.write("\n".join(held_docs))
    nh = sum(c["split"] == "heldout" for c in chapters)
    print(f"{len(chapters)} chapters: {len(chapters) - nh} train, {nh} held out; "
          f"{len(train_docs)} training documents; "
          f"train.txt {os.path.getsize(os.path.join(args.out, 'train.txt'))} bytes, "
          f"heldout.txt {os.path.getsize(os.path.join(args.out, 'heldout.txt'))} bytes")


if __name__ == "__main__":
    main()
