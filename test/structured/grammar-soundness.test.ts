import assert from "node:assert/strict";
import { test } from "node:test";
import { getLlama, type LlamaGrammar, LlamaLogLevel } from "node-llama-cpp";
import type { JsonSchema } from "../../src/provider/types.js";
import { checkJson } from "../../src/structured/validator.js";
import { documentGrammar } from "../helpers/document-grammar.js";
import { GbnfSampler, seeded } from "../helpers/gbnf-sampler.js";

/** Whether llama.cpp's grammar accepts `text` as a complete document (node-llama-cpp's internal check). */
function accepts(grammar: LlamaGrammar, text: string): boolean {
  return (
    grammar as unknown as { _grammar: { isTextCompatible(t: string): boolean } }
  )._grammar.isTextCompatible(text);
}

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });

function properties(n: number, required: (i: number) => boolean): JsonSchema {
  const types: JsonSchema[] = [
    { type: "boolean" },
    { type: "integer", minimum: -3, maximum: 3 },
    { type: "string", maxLength: 3 },
    { enum: ["x", "xy", null] },
  ];
  const names = Array.from({ length: n }, (_, i) => `p${i}`);
  return {
    type: "object",
    properties: Object.fromEntries(names.map((name, i) => [name, types[i % types.length]])),
    required: names.filter((_, i) => required(i)),
    additionalProperties: false,
  };
}

const SCHEMAS: Record<string, JsonSchema> = {
  allOptional: properties(300, () => false),
  someRequired: properties(300, (i) => i % 97 === 5),
  lastRequired: properties(40, (i) => i === 39),
  firstRequired: properties(40, (i) => i === 0),
  enums: {
    type: "object",
    properties: {
      words: {
        type: "array",
        items: { enum: ["a", "ab", "abc", "b", "ba", "", "日本", "日本語", "🔵"] },
        maxItems: 5,
      },
      numbers: { enum: [1, 10, 100, 1.5, -1, 0, true, false, null] },
      objects: { enum: [{ a: 1 }, { a: [1, 2] }, [], '{"a":1}'] },
      many: { enum: Array.from({ length: 1000 }, (_, i) => `value ${i}`) },
    },
    required: ["words", "numbers", "objects", "many"],
  },
  patterns: {
    type: "object",
    properties: {
      code: { type: "string", pattern: "^([A-Z]{2}-)?(\\d{2,3}|x+)(\\.[a-z]{1,3}){0,2}$" },
      nested: { type: "string", pattern: "^((a|bc){1,3}d?){2}$" },
      free: { type: "string", pattern: "ab?c" },
    },
    required: ["code", "nested", "free"],
  },
  tree: {
    $defs: {
      node: {
        type: "object",
        properties: {
          v: { type: "integer", minimum: 0, maximum: 9 },
          kids: { type: "array", items: { $ref: "#/$defs/node" }, maxItems: 3 },
          tag: { type: "string", format: "date" },
        },
        required: ["v"],
      },
    },
    $ref: "#/$defs/node",
  },
  list: {
    $defs: {
      list: {
        anyOf: [
          { type: "null" },
          {
            type: "object",
            properties: { head: { type: "number", minimum: -1, maximum: 1 }, tail: { $ref: "#/$defs/list" } },
            required: ["head", "tail"],
          },
        ],
      },
    },
    $ref: "#/$defs/list",
  },
  arrays: {
    type: "object",
    properties: {
      tuple: {
        type: "array",
        prefixItems: [{ type: "string" }, { const: 3 }],
        items: { type: "boolean" },
        maxItems: 4,
      },
      bounded: { type: "array", items: { type: "integer" }, minItems: 2, maxItems: 3 },
      map: { type: "object", additionalProperties: { type: "array", items: { type: "null" } } },
      lengths: { type: "string", minLength: 2, maxLength: 4 },
    },
    required: ["tuple", "bounded", "map", "lengths"],
  },
};

test("every document sampled from a schema's grammar validates, and llama.cpp accepts it", async () => {
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    const text = documentGrammar(schema);
    const grammar = await llama.createGrammar({ grammar: text });
    const sampler = new GbnfSampler(text);
    const random = seeded(name.length * 7919);
    for (let i = 0; i < 60; i++) {
      const doc = sampler.sample("root", random, i % 3 === 0 ? 40 : 400);
      const verdict = checkJson(doc, schema);
      assert.ok(verdict.ok, `${name}: ${doc.slice(0, 300)} ${verdict.ok ? "" : verdict.error}`);
      assert.ok(accepts(grammar, doc), `${name}: llama.cpp rejects ${doc.slice(0, 300)}`);
    }
  }
});

test("objects accept exactly the in-order subsets of properties that hold every required one", async () => {
  const names = ["a", "b", "c", "d", "e", "f"];
  for (const required of [[], ["b"], ["b", "e"], ["a", "f"], names]) {
    const schema = {
      type: "object",
      properties: Object.fromEntries(names.map((n) => [n, { type: "integer" }])),
      required,
    };
    const grammar = await llama.createGrammar({ grammar: documentGrammar(schema) });
    for (let mask = 0; mask < 1 << names.length; mask++) {
      const present = names.filter((_, i) => mask & (1 << i));
      const doc = `{${present.map((n) => `"${n}": 1`).join(", ")}}`;
      const expected = required.every((r) => present.includes(r));
      assert.equal(accepts(grammar, doc), expected, `${JSON.stringify(required)}: ${doc}`);
    }
    assert.ok(!accepts(grammar, '{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1, "g": 1}'));
    assert.ok(!accepts(grammar, '{"f": 1, "e": 1, "d": 1, "c": 1, "b": 1, "a": 1}'));
  }
});
