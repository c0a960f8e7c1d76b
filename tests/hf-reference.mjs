// Prints the Hugging Face reference token ids for the tokenizer test corpus, per vocabulary, as JSON.
// The tokenizers run in Node through @lenml/tokenizers (transformers.js). Run tests/fetch-tokenizers.sh --with-node
// first, then:  node tests/hf-reference.mjs > tests/Strata.Tests/Tokenizers/hf-reference.json
// With an argument, tokenizes that JSON array of texts instead of the corpus (the random-text tests do this live).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const cache = process.env.STRATA_TOKENIZER_CACHE ?? join(here, "Strata.Tests", ".data", "tokenizers");
const require = createRequire(join(cache, "index.js"));
const { TokenizerLoader } = require("@lenml/tokenizers");

const corpusPath = process.argv[2] ?? join(here, "Strata.Tests", "Tokenizers", "corpus.json");
const corpus = JSON.parse(readFileSync(corpusPath, "utf8"));
const out = {};
// STRATA_HF_VOCABS (comma-separated) limits the vocabularies, e.g. to one folder of a test's own tokenizer.json.
const names = process.env.STRATA_HF_VOCABS?.split(",") ?? ["llama2", "llama3", "qwen3"];
for (const name of names) {
  const tokenizer = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(readFileSync(join(cache, name, "tokenizer.json"), "utf8")),
    tokenizerConfig: JSON.parse(readFileSync(join(cache, name, "tokenizer_config.json"), "utf8")),
  });
  out[name] = corpus.map((text) => ({
    plain: Array.from(tokenizer.encode(text, { add_special_tokens: false })),
    special: Array.from(tokenizer.encode(text, { add_special_tokens: true })),
  }));
}
process.stdout.write(JSON.stringify(out) + "\n");
