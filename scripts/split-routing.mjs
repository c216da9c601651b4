// Splits data/routing/prompts.jsonl into train.jsonl (~80%) and holdout.jsonl (~20%), stratified by label
// and language. The order inside each stratum is a SHA-256 of a fixed seed and the text, so the split is
// the same on every machine and does not move when prompts are added elsewhere in the file.
// Run: node scripts/split-routing.mjs [--check]  (--check exits 1 if the files on disk differ)
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

const SEED = "edgellm-routing-split-v1";
const HOLDOUT_SHARE = 0.2;
const dir = new URL("../data/routing/", import.meta.url);

const lines = readFileSync(new URL("prompts.jsonl", dir), "utf8").split("\n").filter(Boolean);
const items = lines.map((line, index) => ({ line, index, item: JSON.parse(line) }));
const strata = new Map();
for (const entry of items) {
  const key = `${entry.item.label}/${entry.item.lang}`;
  if (!strata.has(key)) strata.set(key, []);
  strata.get(key).push(entry);
}
const held = new Set();
for (const members of strata.values()) {
  const ranked = members
    .map((entry) => ({
      entry,
      rank: createHash("sha256").update(`${SEED}\0${entry.item.text}`).digest("hex"),
    }))
    .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0));
  const count = Math.round(members.length * HOLDOUT_SHARE);
  for (const { entry } of ranked.slice(0, count)) held.add(entry.index);
}
const file = (keep) =>
  `${items
    .filter((e) => keep(held.has(e.index)))
    .map((e) => e.line)
    .join("\n")}\n`;
const outputs = { "train.jsonl": file((h) => !h), "holdout.jsonl": file((h) => h) };

if (process.argv.includes("--check")) {
  for (const [name, text] of Object.entries(outputs)) {
    if (readFileSync(new URL(name, dir), "utf8") !== text) {
      console.error(
        `data/routing/${name} is not the split of prompts.jsonl: run node scripts/split-routing.mjs`,
      );
      process.exit(1);
    }
  }
} else {
  for (const [name, text] of Object.entries(outputs)) writeFileSync(new URL(name, dir), text);
  console.log(`train ${items.length - held.size}, holdout ${held.size}`);
}
