#!/usr/bin/env bash
# Prints the replay table of docs/PERFORMANCE.md: prefix hit rate per policy and tier configuration next to Belady's
# optimum, on the public Mooncake trace and on generated traffic.
#   usage: tools/kv-replay-table.sh [TRACE]   (default ../shared/traces/mooncake-synthetic.jsonl)
set -euo pipefail
cd "$(dirname "$0")/.."
trace="${1:-../shared/traces/mooncake-synthetic.jsonl}"
strata=(dotnet run --project src/Strata.Cli -c Release --)
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
"${strata[@]}" kv trace --kind multi-turn --requests 4000 --seed 1 -o "$work/multi-turn.jsonl" >/dev/null
"${strata[@]}" kv trace --kind shared-system --requests 4000 --seed 1 -o "$work/shared-system.jsonl" >/dev/null
"${strata[@]}" kv trace --kind rag --requests 4000 --seed 1 -o "$work/rag.jsonl" >/dev/null
"${strata[@]}" kv trace --kind mixed --requests 4000 --seed 1 -o "$work/mixed.jsonl" >/dev/null
dll=src/Strata.Cli/bin/Release/net10.0/strata.dll
row() { # name file tiers
  local cells=""
  for p in lru arc s3fifo; do
    local j; j="$(dotnet "$dll" kv replay --trace "$2" --tiers "$3" --policy "$p" --json)"
    cells+=" $(echo "$j" | python3 -c 'import json,sys; print("%.1f %%" % (100*json.load(sys.stdin)["hit_rate"]))') |"
    [ "$p" = s3fifo ] && tiers="$(echo "$j" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(", ".join("%s %d" % kv for kv in d["hits_by_tier"].items()))')" \
      && belady="$(echo "$j" | python3 -c 'import json,sys; print("%.1f %%" % (100*json.load(sys.stdin)["belady_hit_rate"]))')"
  done
  echo "| $1 | \`$3\` |$cells $belady | $tiers |"
}
echo "| trace | tiers (blocks) | lru | arc | s3fifo (default) | Belady | s3fifo hits by tier |"
echo "|---|---|---|---|---|---|---|"
for t in dram=1000 dram=3000 dram=10000 dram=1000,far=1000,ssd=6000 dram=1000,ssd=20000; do row "Mooncake (public)" "$trace" "$t"; done
for k in multi-turn shared-system rag mixed; do
  for t in dram=200 dram=1000 dram=200,far=200,ssd=1000; do row "$k (generated)" "$work/$k.jsonl" "$t"; done
done
