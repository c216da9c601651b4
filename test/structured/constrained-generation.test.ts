import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { JsonSchema } from "../../src/provider/types.js";
import { checkJson } from "../../src/structured/validator.js";
import type { GenerationJob, GenerationResult } from "../helpers/generation-worker.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// The tiny model has random weights: whatever it writes is noise, so only the grammar can make the
// answers valid. Every string and array is bounded, so every document fits in MAX_TOKENS.
const MAX_TOKENS = 96;

export const SCHEMAS: Record<string, JsonSchema> = {
  person: {
    type: "object",
    properties: {
      name: { type: "string", minLength: 1, maxLength: 8 },
      age: { type: "integer", minimum: 0, maximum: 120 },
      nickname: { type: "string", maxLength: 4 },
    },
    required: ["name", "age"],
    additionalProperties: false,
  },
  nested: {
    type: "object",
    properties: {
      user: {
        type: "object",
        properties: {
          id: { type: "string", format: "uuid" },
          tags: { type: "array", items: { enum: ["a", "b", "c"] }, minItems: 1, maxItems: 3 },
        },
        required: ["id", "tags"],
      },
      active: { type: "boolean" },
    },
    required: ["user", "active"],
  },
  integers: { type: "array", items: { type: "integer", minimum: -5, maximum: 5 }, minItems: 2, maxItems: 4 },
  unicode: {
    type: "object",
    properties: {
      kind: { const: "point" },
      color: { enum: ["red", "绿色", "🔵"] },
      label: { type: "string", maxLength: 3 },
    },
    required: ["kind", "color", "label"],
  },
  numbers: {
    type: "object",
    properties: {
      x: { type: "number", minimum: -1.5, maximum: 2.5 },
      y: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 },
      z: { type: "integer", exclusiveMinimum: 10, maximum: 99999 },
    },
    required: ["x", "y", "z"],
  },
  dates: {
    type: "object",
    properties: {
      day: { type: "string", format: "date" },
      at: { type: "string", format: "date-time" },
    },
    required: ["day", "at"],
  },
  patterns: {
    type: "object",
    properties: {
      code: { type: "string", pattern: "^[A-Z]{2}-\\d{3}$" },
      slug: { type: "string", pattern: "^[a-z0-9]{1,6}(-[a-z0-9]{1,4})?$" },
    },
    required: ["code", "slug"],
  },
  alternatives: {
    type: "object",
    properties: {
      value: {
        anyOf: [
          { type: "string", maxLength: 5 },
          { type: "integer", minimum: 0, maximum: 9 },
          { type: "null" },
        ],
      },
      maybe: { type: ["boolean", "null"] },
    },
    required: ["value", "maybe"],
  },
  recursive: {
    $defs: {
      node: {
        type: "object",
        properties: {
          n: { type: "integer", minimum: 0, maximum: 9 },
          kids: { type: "array", items: { $ref: "#/$defs/leaf" }, maxItems: 2 },
        },
        required: ["n", "kids"],
      },
      leaf: {
        type: "object",
        properties: { n: { type: "integer", minimum: 0, maximum: 9 } },
        required: ["n"],
      },
    },
    $ref: "#/$defs/node",
  },
  optionalOnly: {
    type: "object",
    properties: {
      ip: { type: "string", format: "ipv4" },
      port: { type: "integer", minimum: 1, maximum: 65535 },
      note: { type: "string", maxLength: 4 },
    },
    additionalProperties: false,
  },
  tuple: {
    type: "array",
    prefixItems: [
      { type: "string", maxLength: 3 },
      { type: "integer", minimum: 0, maximum: 9 },
      { type: "boolean" },
    ],
    items: false,
  },
  oneOfTyped: { oneOf: [{ type: "boolean" }, { type: "string", maxLength: 4 }, { type: "null" }] },
};

function runWorkers(modelPath: string, jobs: GenerationJob[], workers: number): Promise<GenerationResult[]> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "../helpers/generation-worker.js");
  const shares = Array.from({ length: workers }, (_, w) => jobs.filter((_, i) => i % workers === w));
  return Promise.all(
    shares.map(
      (share) =>
        new Promise<GenerationResult[]>((resolve, reject) => {
          const worker = new Worker(script, { workerData: { modelPath, jobs: share } });
          worker.once("message", resolve);
          worker.once("error", reject);
        }),
    ),
  ).then((all) => all.flat());
}

test("200 grammar-constrained generations over 12 schemas all parse and validate; unconstrained ones do not", async () => {
  const modelPath = await tinyModelPath();
  const names = Object.keys(SCHEMAS);
  const constrained: GenerationJob[] = Array.from({ length: 200 }, (_, i) => ({
    schema: SCHEMAS[names[i % names.length]],
    seed: 1000 + i,
    grammar: true,
    maxTokens: MAX_TOKENS,
  }));
  const free: GenerationJob[] = Array.from({ length: 24 }, (_, i) => ({
    schema: SCHEMAS[names[i % names.length]],
    seed: 5000 + i,
    grammar: false,
    maxTokens: 48,
  }));
  const started = Date.now();
  const results = await runWorkers(modelPath, [...constrained, ...free], 2);
  const failures: string[] = [];
  let tokens = 0;
  for (const r of results.filter((r) => r.job.grammar)) {
    tokens += r.tokens;
    const verdict = checkJson(r.text, r.job.schema);
    if (r.finishReason !== "stop" || !verdict.ok) {
      failures.push(
        `${JSON.stringify(r.job.schema).slice(0, 60)} seed ${r.job.seed}: ${r.finishReason} ${JSON.stringify(r.text)} ${verdict.ok ? "" : verdict.error}`,
      );
    }
  }
  assert.equal(results.filter((r) => r.job.grammar).length, 200);
  assert.deepEqual(failures, [], failures.join("\n"));
  // The same model and prompts without the grammar: a broken grammar would let these through.
  const unconstrained = results.filter((r) => !r.job.grammar);
  const invalid = unconstrained.filter((r) => !checkJson(r.text, r.job.schema).ok).length;
  assert.ok(
    invalid / unconstrained.length >= 0.9,
    `only ${invalid}/${unconstrained.length} unconstrained answers were invalid`,
  );
  const seconds = (Date.now() - started) / 1000;
  console.log(
    `# 200 constrained generations, ${tokens} tokens, ${invalid}/${unconstrained.length} unconstrained invalid, ${seconds.toFixed(1)} s`,
  );
});
