// Prints the NFC form of each JSON string in the file named by the first argument (Node's String.prototype.normalize,
// ICU), and the code points that NFC changes on their own, as {"texts": [...], "single": {"cp": "nfc"}}.
import { readFileSync } from "node:fs";

const texts = JSON.parse(readFileSync(process.argv[2], "utf8"));
const single = {};
for (let cp = 0; cp < 0x110000; cp++) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  const s = String.fromCodePoint(cp);
  const n = s.normalize("NFC");
  if (n !== s) single[cp] = n;
}
process.stdout.write(JSON.stringify({ unicode: process.versions.unicode, texts: texts.map((t) => t.normalize("NFC")), single }) + "\n");
