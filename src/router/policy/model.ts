import { handFeatures, isNgram, type Ngrams, ngramCount, ngrams } from "./features.js";
import type { PolicyWeights } from "./train.js";
import file from "./weights.json" with { type: "json" };

/**
 * The trained routing model at request time: the weights file read once into a Map, so scoring an ask is
 * one lookup per n-gram and a sum (bench/routing.ts measures it).
 */

export interface Contribution {
  /** The feature as a reader sees it: `proof`, `length>600`, or a quoted n-gram such as `"证明"`. */
  feature: string;
  /** Its share of the logit (weight times value); positive pushes towards the cloud. */
  weight: number;
}

const weights: PolicyWeights = file;
const hand = new Map<string, number>();
// One table per kind of n-gram, keyed without the prefix, so a request builds no prefixed strings.
const tables: Record<keyof Ngrams, Map<string, number>> = { c: new Map(), w: new Map(), g: new Map() };
for (const [name, w] of Object.entries(weights.weights)) {
  if (isNgram(name)) tables[name[0] as keyof Ngrams].set(name.slice(2), w);
  else hand.set(name, w);
}
const KINDS = ["c", "w", "g"] as const;

/** The model's logit for an ask and every feature that moved it, unsorted. */
export function logit(ask: string, extraUnits: number): { z: number; contributions: Contribution[] } {
  const contributions: Contribution[] = [];
  let z = weights.bias;
  for (const [name, value] of handFeatures(ask, extraUnits)) {
    const w = hand.get(name);
    if (w === undefined) continue;
    z += w * value;
    contributions.push({ feature: name, weight: w * value });
  }
  const grams = ngrams(ask);
  const count = ngramCount(grams);
  const scale = count > 0 ? 1 / Math.sqrt(count) : 0;
  for (const kind of KINDS) {
    const table = tables[kind];
    for (const gram of grams[kind]) {
      const w = table.get(gram);
      if (w === undefined) continue;
      z += w * scale;
      contributions.push({ feature: display(kind, gram), weight: w * scale });
    }
  }
  return { z, contributions };
}

/** `c:证明` -> `"证明"`, `w:prove that` -> `"prove that"`, `g: pro` -> `"_pro"` (_ marks a word's edge). */
function display(kind: keyof Ngrams, gram: string): string {
  return JSON.stringify(kind === "g" ? gram.replaceAll(" ", "_") : gram);
}
