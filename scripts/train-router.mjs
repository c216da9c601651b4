// Trains the routing policy on data/routing/train.jsonl and writes src/router/policy/weights.json
// (docs/routing.md). Deterministic: the same data gives the same file, byte for byte.
// Run: npm run train:router  (builds first; this script reads the trainer from dist/)
import { readFileSync, writeFileSync } from "node:fs";
import { formatWeights, readExamples } from "../dist/src/router/policy/data.js";
import { train } from "../dist/src/router/policy/train.js";

const examples = readExamples("train");
const weights = train(examples);
const target = new URL("../src/router/policy/weights.json", import.meta.url);
const text = formatWeights(weights);
const before = (() => {
  try {
    return readFileSync(target, "utf8");
  } catch {
    return "";
  }
})();
writeFileSync(target, text);
console.log(
  `trained on ${examples.length} prompts: ${Object.keys(weights.weights).length} weights; ` +
    `src/router/policy/weights.json ${before === text ? "unchanged" : "updated"}`,
);
