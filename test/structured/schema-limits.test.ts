import assert from "node:assert/strict";
import { test } from "node:test";
import { GrammarCache, grammarFor } from "../../src/engine/grammar.js";
import { InvalidRequestError } from "../../src/provider/errors.js";
import type { JsonSchema } from "../../src/provider/types.js";
import {
  MAX_ALTERNATIVES,
  MAX_PATTERN_DEPTH,
  MAX_PATTERN_LENGTH,
  MAX_PROPERTIES,
  MAX_REPEAT,
  MAX_SCHEMA_DEPTH,
} from "../../src/structured/limits.js";
import { documentGrammar } from "../helpers/document-grammar.js";

const P = "format.schema";

function refusal(schema: unknown): InvalidRequestError {
  try {
    documentGrammar(schema as JsonSchema);
  } catch (error) {
    assert.ok(error instanceof InvalidRequestError, String(error));
    assert.equal(error.code, "unsupported_schema");
    assert.equal(error.status, 400);
    return error;
  }
  assert.fail(`accepted ${JSON.stringify(schema).slice(0, 200)}`);
}

function nested(depth: number, leaf: JsonSchema = { type: "string" }): JsonSchema {
  let schema = leaf;
  for (let i = 0; i < depth; i++) schema = { type: "object", properties: { a: schema } };
  return schema;
}

function optionalProperties(n: number): JsonSchema {
  return {
    type: "object",
    properties: Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, { type: "string" }])),
  };
}

test("bounds above what a grammar can expand are refused naming the keyword", () => {
  const cases: [unknown, string][] = [
    [
      { type: "object", properties: { x: { type: "string", minLength: 100_000 } } },
      `${P}.properties.x.minLength`,
    ],
    [{ type: "array", minItems: 1_000_000 }, `${P}.minItems`],
    [{ type: "string", pattern: "^a{100000}$" }, `${P}.pattern`],
    [{ type: "string", pattern: "^(ab){5,}$".replace("5", String(MAX_REPEAT + 1)) }, `${P}.pattern`],
    [{ type: "string", pattern: "a".repeat(MAX_PATTERN_LENGTH + 1) }, `${P}.pattern`],
    [
      {
        type: "string",
        pattern: `${"(".repeat(MAX_PATTERN_DEPTH + 1)}a${")".repeat(MAX_PATTERN_DEPTH + 1)}`,
      },
      `${P}.pattern`,
    ],
    [{ enum: Array.from({ length: MAX_ALTERNATIVES + 1 }, (_, i) => i) }, `${P}.enum`],
    [{ enum: ["x".repeat(70_000)] }, `${P}.enum`],
    [{ anyOf: Array.from({ length: MAX_ALTERNATIVES + 1 }, (_, i) => ({ const: i })) }, `${P}.anyOf`],
    [optionalProperties(MAX_PROPERTIES + 1), `${P}.properties`],
    [{ enum: Array.from({ length: 100_000 }, (_, i) => `v${i}`) }, P],
    [{ type: [] }, `${P}.type`],
    [{ enum: [JSON.parse("1e400")] }, `${P}.enum`],
  ];
  for (const [schema, param] of cases) {
    const error = refusal(schema);
    assert.equal(error.field, param, error.message);
    assert.ok(error.message.length < 400, error.message);
  }
});

test("upper bounds above the limit are lowered, so the grammar generates a subset", () => {
  const grammar = documentGrammar({ type: "string", maxLength: 50_000 });
  assert.match(grammar, new RegExp(`json-char\\{0,${MAX_REPEAT}\\}`));
  const array = documentGrammar({ type: "array", items: { type: "boolean" }, maxItems: 1e9 });
  assert.match(array, new RegExp(`\\{0,${MAX_REPEAT - 1}\\}`));
  const pattern = documentGrammar({ type: "string", pattern: "^a{2,99999}$" });
  assert.match(pattern, new RegExp(`\\{2,${MAX_REPEAT}\\}`));
});

test("depth is checked before anything recursive: 10k-deep schemas and tool parameters are a 400", () => {
  const deep = nested(10_000);
  const error = refusal(deep);
  assert.ok(error.field?.startsWith(`${P}.properties.a.properties.a`));
  assert.equal(error.field?.split(".").length, P.split(".").length + MAX_SCHEMA_DEPTH);
  assert.doesNotThrow(() => documentGrammar(nested(MAX_SCHEMA_DEPTH / 2 - 1)));

  // GrammarCache keys requests by their JSON text: it must refuse before stringifying.
  const cache = new GrammarCache(undefined as never);
  const prompt = { kind: "chat" as const, messages: [], tools: [{ name: "f", parameters: deep }] };
  for (const request of [
    { prompt, toolChoice: "required" as const },
    { prompt, toolChoice: "auto" as const },
    {
      prompt: { kind: "text" as const, text: "" },
      format: { kind: "json_schema" as const, name: "x", schema: deep },
    },
  ]) {
    assert.throws(
      () => cache.textFor(request),
      (e: unknown) => e instanceof InvalidRequestError && e.code === "unsupported_schema",
    );
  }
  const wide = {
    type: "object",
    properties: Object.fromEntries(Array.from({ length: 30_000 }, (_, i) => [`k${i}`, true])),
  };
  assert.equal(refusal(wide).field, P);
});

test("optional properties grow the grammar linearly, and 3000 of them are refused at once", () => {
  const sizes = [100, 200, 400].map((n) => documentGrammar(optionalProperties(n)).length);
  // Quadratic growth (each optional property listed after every earlier one) would give 16x.
  assert.ok(sizes[2] / sizes[0] < 5, `sizes ${sizes}`);
  assert.ok(sizes[2] / sizes[1] < 2.5, `sizes ${sizes}`);
  const started = performance.now();
  assert.equal(refusal(optionalProperties(3000)).field, `${P}.properties`);
  assert.ok(performance.now() - started < 2000);
});

test("recursive schemas through optional properties or arrays work; infinite ones are refused", () => {
  const tree = {
    $defs: {
      node: {
        type: "object",
        properties: {
          value: { type: "integer" },
          children: { type: "array", items: { $ref: "#/$defs/node" } },
        },
        required: ["value", "children"],
      },
    },
    $ref: "#/$defs/node",
  };
  const list = {
    $defs: {
      list: {
        anyOf: [
          { type: "null" },
          {
            type: "object",
            properties: { head: { type: "integer" }, tail: { $ref: "#/$defs/list" } },
            required: ["head", "tail"],
          },
        ],
      },
    },
    $ref: "#/$defs/list",
  };
  for (const schema of [tree, list, { type: "object", properties: { self: { $ref: "#" } } }]) {
    assert.match(documentGrammar(schema), /^root ::= /);
  }
  const forced: [unknown, string][] = [
    [{ $ref: "#" }, `${P}.$ref`],
    [
      { type: "object", properties: { self: { $ref: "#" } }, required: ["self"] },
      `${P}.properties.self.$ref`,
    ],
    [
      {
        ...tree,
        $defs: {
          node: {
            ...tree.$defs.node,
            properties: {
              ...tree.$defs.node.properties,
              children: { type: "array", items: { $ref: "#/$defs/node" }, minItems: 1 },
            },
          },
        },
      },
      `${P}.$ref`,
    ],
    [
      {
        $defs: { a: { anyOf: [{ $ref: "#/$defs/b" }, { type: "null" }] }, b: { $ref: "#/$defs/a" } },
        $ref: "#/$defs/a",
      },
      `${P}.$ref`,
    ],
    [{ type: "array", prefixItems: [{ $ref: "#" }] }, `${P}.prefixItems.0.$ref`],
  ];
  for (const [schema, param] of forced) assert.equal(refusal(schema).field, param, JSON.stringify(schema));
});

test("reference chains llama.cpp would walk exponentially are refused, short ones kept", () => {
  // d_i is d_{i+1} directly or through e_{i+1}: 2^n paths for llama.cpp's left-recursion check.
  const chain = (n: number) => {
    const defs: Record<string, JsonSchema> = { [`d${n}`]: { type: "string" } };
    for (let i = 0; i < n; i++) {
      defs[`d${i}`] = { anyOf: [{ $ref: `#/$defs/d${i + 1}` }, { $ref: `#/$defs/e${i + 1}` }] };
      defs[`e${i + 1}`] = { $ref: `#/$defs/d${i + 1}` };
    }
    return { $defs: defs, $ref: "#/$defs/d0" };
  };
  assert.match(documentGrammar(chain(8)), /^root ::= /);
  const started = performance.now();
  assert.match(refusal(chain(40)).message, /too many paths/);
  assert.ok(performance.now() - started < 2000);
});

test("a request whose schemas are each allowed but together too large is refused", () => {
  // Each tool's string rule expands to MAX_REPEAT elements; distinct bounds keep them apart.
  const tools = Array.from({ length: 120 }, (_, i) => ({
    name: `f${i}`,
    parameters: {
      type: "object",
      properties: Object.fromEntries(
        Array.from({ length: 3 }, (_, j) => [`s${j}`, { type: "string", minLength: MAX_REPEAT - 3 * i - j }]),
      ),
    },
  }));
  assert.throws(
    () => grammarFor({ prompt: { kind: "chat", messages: [], tools }, toolChoice: "required" }),
    (e: unknown) =>
      e instanceof InvalidRequestError && e.code === "unsupported_schema" && /^tools/.test(e.field ?? ""),
  );
  assert.ok(
    grammarFor({ prompt: { kind: "chat", messages: [], tools: tools.slice(0, 5) }, toolChoice: "required" }),
  );
});
