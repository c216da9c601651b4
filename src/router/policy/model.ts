import { handFeatures, ngrams } from "./features.js";
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
const table = new Map<string, number>(Object.entries(weights.weights));

/** The model's logit for an ask and every feature that moved it, unsorted. */
export function logit(ask: string, extraUnits: number): { z: number; contributions: Contribution[] } {
  const contributions: Contribution[] = [];
  let z = weights.bias;
  for (const [name, value] of handFeatures(ask, extraUnits)) {
    const w = table.get(name);
    if (w === undefined) continue;
    z += w * value;
    contributions.push({ feature: name, weight: w * value });
  }
  const grams = ngrams(ask);
  const scale = grams.size > 0 ? 1 / Math.sqrt(grams.size) : 0;
  for (const gram of grams) {
    const w = table.get(gram);
    if (w === undefined) continue;
    z += w * scale;
    contributions.push({ feature: display(gram), weight: w * scale });
  }
  return { z, contributions };
}

/** `c:证明` -> `"证明"`, `w:prove that` -> `"prove that"`, `g: pro` -> `"_pro"` (_ marks a word's edge). */
function display(gram: string): string {
  const body = gram.slice(2);
  return JSON.stringify(gram[0] === "g" ? body.replaceAll(" ", "_") : body);
}
