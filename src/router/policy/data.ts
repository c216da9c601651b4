import { readFileSync } from "node:fs";
import type { Example, PolicyWeights } from "./train.js";

/** A labelled prompt of data/routing/ (data/routing/README.md). */
export interface LabelledPrompt extends Example {
  lang: "zh" | "en";
  category: string;
  borderline?: true;
}

/**
 * Reads a split of the labelled prompts. Only the training script, tests and benchmarks call it, always from
 * dist/, so the path is from dist/src/router/policy/ to the repository root.
 */
export function readExamples(split: "train" | "holdout" | "prompts"): LabelledPrompt[] {
  const file = new URL(`../../../../data/routing/${split}.jsonl`, import.meta.url);
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as LabelledPrompt);
}

/** The weights file's text: one weight a line, as the formatter leaves it, so diffs stay readable. */
export function formatWeights(weights: PolicyWeights): string {
  return `${JSON.stringify(weights, null, 2)}\n`;
}
