#!/usr/bin/env bash
# Size and perplexity per quantization type for one model, as a Markdown table (docs/QUANTIZATION.md).
#   usage: tools/quant-table.sh MODEL.gguf TEXT.txt [CTX]
# Quantizes MODEL with `strata quantize` into a temporary folder, then runs `strata perplexity` on TEXT for each type.
set -euo pipefail
model="$1"; text="$2"; ctx="${3:-128}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dotnet build "$root/src/Strata.Cli" -c Release -v quiet -nologo >/dev/null
strata() { dotnet "$root/src/Strata.Cli/bin/Release/net10.0/strata.dll" "$@"; }
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

ppl() { strata perplexity -m "$1" --file "$text" --ctx "$ctx" --json | python3 -c "import json,sys; print(round(json.load(sys.stdin)['ppl'], 4))"; }
size() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }

base="$(ppl "$model")"
echo "| type | size | perplexity | vs $(basename "$model") |"
echo "|---|---|---|---|"
echo "| $(basename "$model") | $(size "$model") | $base | — |"
for t in Q8_0 Q6_K Q5_K_M Q5_K Q5_1 Q5_0 Q4_K_M Q4_K Q4_1 Q4_0; do
  out="$work/$t.gguf"
  strata quantize "$model" "$out" "$t" >/dev/null 2>&1
  p="$(ppl "$out")"
  echo "| $t | $(size "$out") | $p | $(awk -v a="$p" -v b="$base" 'BEGIN { printf "%+.1f %%", (a / b - 1) * 100 }') |"
done
