import assert from "node:assert/strict";
import { test } from "node:test";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { buildServer } from "../../src/api/server.js";
import { GrammarCache, type GrammarRequest, grammarFor } from "../../src/engine/grammar.js";
import { InvalidRequestError } from "../../src/provider/errors.js";
import type { GenerateRequest, JsonSchema } from "../../src/provider/types.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { checkJson, validatorFor } from "../../src/structured/validator.js";
import { FakeEngine } from "../helpers/fake-engine.js";
import { GbnfSampler, seeded } from "../helpers/gbnf-sampler.js";

/**
 * Nasty schemas (deep, wide, huge bounds, cycles, odd types, keywords with values of the wrong kind):
 * each must become a grammar llama.cpp compiles, or an InvalidRequestError; never anything else.
 */

type Random = () => number;
const pick = <T>(random: Random, list: readonly T[]): T => list[Math.floor(random() * list.length)];

const ODD: unknown[] = [
  true,
  false,
  null,
  0,
  -1,
  1.5,
  1e9,
  Number.POSITIVE_INFINITY,
  "",
  "x",
  [],
  {},
  [1],
  { a: 1 },
];
const TYPES = ["string", "number", "integer", "boolean", "null", "object", "array", "strin", 5, null];
const PATTERNS = [
  "^a+$",
  "(",
  "a{100000}",
  "^(a{0,999}){0,999}$",
  `^${"(".repeat(40)}a${")".repeat(40)}$`,
  "[",
  "\\",
  "(?=a)b",
  "a{2,1}",
  "^[^\\x00-\\uffff]$",
  "^(|a|)*$",
  "^(a?)+$",
  "^\\d{3}-[\\w.]{1,9}$",
  ".*",
  "^$",
  "a".repeat(5000),
];
const KEYS = ["a", "b", "__proto__", "constructor", "", 'q"uote', "🔵", "x".repeat(300)];
const REFS = [
  "#",
  "#/$defs/a",
  "#/$defs/b",
  "#/$defs/__proto__",
  "#/$defs/constructor",
  "#/definitions/a",
  "http://x",
  5,
];

function count(random: Random): unknown {
  return pick(random, [0, 1, 3, 999, 1000, 1001, 2001, 1e9, -1, 1.5, "3", null]);
}

function nasty(random: Random, depth: number): unknown {
  if (depth > 5 || random() < 0.12) return pick(random, [...ODD, { type: pick(random, TYPES) }]);
  const schema: Record<string, unknown> = {};
  const keywords = Math.ceil(random() * 4);
  for (let i = 0; i < keywords; i++) {
    const sub = () => nasty(random, depth + 1);
    const generators: Record<string, () => unknown> = {
      type: () => (random() < 0.7 ? pick(random, TYPES) : [pick(random, TYPES), pick(random, TYPES)]),
      minimum: () => pick(random, [0, -1e308, 1e308, 0.25, "x", true, Number.POSITIVE_INFINITY]),
      maximum: () => pick(random, [0, 9, 1e15, 1e16, 0.75, "9", false]),
      exclusiveMinimum: () => pick(random, [0, true, 1e-300, -5]),
      exclusiveMaximum: () => pick(random, [1, false, 1e300]),
      minLength: () => count(random),
      maxLength: () => count(random),
      minItems: () => count(random),
      maxItems: () => count(random),
      pattern: () => pick(random, PATTERNS),
      format: () => pick(random, ["date", "date-time", "ipv4", "x", 5]),
      enum: () =>
        pick(random, [
          [],
          [1, 1, "1"],
          "x",
          Array.from({ length: 1200 }, (_, j) => j),
          [Number.POSITIVE_INFINITY],
          [sub()],
        ]),
      const: () => pick(random, [...ODD, sub()]),
      properties: () =>
        random() < 0.8
          ? Object.fromEntries(KEYS.slice(0, 1 + Math.floor(random() * 4)).map((k) => [k, sub()]))
          : pick(random, ODD),
      required: () => pick(random, [[], ["a"], ["a", "b"], ["__proto__"], 5, [1], ["missing"], "a"]),
      additionalProperties: () => (random() < 0.5 ? pick(random, [true, false, 5]) : sub()),
      items: () => (random() < 0.7 ? sub() : pick(random, [[], false, 5])),
      prefixItems: () => (random() < 0.7 ? [sub(), sub()] : pick(random, [{}, 5, []])),
      uniqueItems: () => pick(random, [true, false, "x"]),
      anyOf: () =>
        random() < 0.8 ? [sub(), sub(), sub()].slice(0, 1 + Math.floor(random() * 3)) : pick(random, [[], 5]),
      oneOf: () => [sub(), sub()],
      allOf: () => pick(random, [[sub()], [sub(), sub()], []]),
      $ref: () => pick(random, REFS),
      $defs: () => (random() < 0.8 ? { a: sub(), b: { $ref: pick(random, REFS) } } : 5),
      definitions: () => ({ a: sub() }),
      description: () => pick(random, ODD),
      not: () => sub(),
      multipleOf: () => 2,
    };
    const keyword = pick(random, Object.keys(generators));
    schema[keyword] = generators[keyword]();
  }
  return schema;
}

/** Mostly valid schemas of random shape, to exercise what converts: their samples must validate. */
function tame(random: Random, depth: number): JsonSchema {
  const sub = () => tame(random, depth + 1);
  const kinds = ["object", "object", "array", "anyOf", "string", "integer", "enum", "ref"];
  switch (pick(random, depth > 3 ? kinds.slice(4) : kinds)) {
    case "object": {
      // ajv itself misreads a declared "__proto__" property as an additional one.
      const names = KEYS.filter((k) => k !== "__proto__" && random() < 0.5);
      return {
        type: "object",
        properties: Object.fromEntries(names.map((n) => [n, sub()])),
        required: names.filter(() => random() < 0.3),
        additionalProperties: pick(random, [false, true]),
      };
    }
    case "array": {
      const min = pick(random, [0, 0, 1, 2]);
      return { type: "array", items: sub(), minItems: min, maxItems: pick(random, [min, min + 2, 5000]) };
    }
    case "anyOf":
      return { anyOf: [sub(), sub(), { type: "null" }] };
    case "string":
      return pick(random, [
        { type: "string", maxLength: 4 },
        { type: "string", minLength: 1, maxLength: 3000 },
        {
          type: "string",
          pattern: pick(random, ["^\\d{3}-[\\w.]{1,9}$", "^(a|bc)+$", "^([A-Z]{2,4}){1,2}$", "x?y*"]),
        },
        { type: "string", format: pick(random, ["date", "uuid", "ipv4"]) },
      ]);
    case "integer":
      return {
        type: pick(random, ["integer", "number"]),
        minimum: pick(random, [-5, 0, 0.5]),
        maximum: pick(random, [5, 1e6]),
      };
    case "enum":
      return {
        enum: pick(random, [
          ["a", "ab", 1, null],
          Array.from({ length: 300 }, (_, i) => `v${i % 37}-${i}`),
          [{ k: [1] }],
        ]),
      };
    default:
      return pick(random, [{ $ref: "#/$defs/tree" }, { $ref: "#" }]);
  }
}

const TREE: JsonSchema = {
  type: "object",
  properties: {
    v: { type: "integer", minimum: 0, maximum: 9 },
    kids: { type: "array", items: { $ref: "#/$defs/tree" }, maxItems: 2 },
  },
};

function nested(depth: number): JsonSchema {
  let schema: JsonSchema = { type: "string" };
  for (let i = 0; i < depth; i++) schema = { type: "array", items: schema };
  return schema;
}

function optional(n: number): JsonSchema {
  return {
    type: "object",
    properties: Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, { type: "string" }])),
  };
}

const EXTREMES: JsonSchema[] = [
  nested(10_000),
  optional(3000),
  optional(1000),
  { enum: Array.from({ length: 100_000 }, (_, i) => i) },
  { $ref: "#" },
  { type: "object", properties: { a: { $ref: "#" } }, required: ["a"] },
  { anyOf: [{ $ref: "#" }, { type: "null" }] },
];

/** Whether ajv takes the schema (the grammar ignores what unused $defs hold; ajv checks them). */
function ajvAccepts(schema: JsonSchema): boolean {
  try {
    validatorFor(schema);
    return true;
  } catch {
    return false;
  }
}

function asRequest(schema: JsonSchema, asTool: boolean): GrammarRequest {
  return asTool
    ? {
        prompt: { kind: "chat", messages: [], tools: [{ name: "f", parameters: schema }] },
        toolChoice: "required",
      }
    : { prompt: { kind: "chat", messages: [] }, format: { kind: "json_schema", name: "s", schema } };
}

test("900 nasty and tame schemas each become a grammar llama.cpp compiles, or an InvalidRequestError", async () => {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const random = seeded(20240611);
  const tameOnes = Array.from({ length: 300 }, () => ({
    ...(tame(random, 0) as object),
    $defs: { tree: TREE },
  }));
  const schemas = [
    ...EXTREMES,
    ...tameOnes,
    ...Array.from({ length: 600 }, () => nasty(random, 0) as JsonSchema),
  ];
  let converted = 0;
  // Warm up the translator and llama.cpp, so the first timing is not the JIT's.
  await llama.createGrammar({ grammar: grammarFor(asRequest(optional(100), false)) as string });
  let slowest = { ms: 0, index: -1 };
  for (const [i, schema] of schemas.entries()) {
    const started = performance.now();
    let grammar: string | undefined;
    try {
      grammar = grammarFor(asRequest(schema, i % 2 === 1));
    } catch (error) {
      if (error instanceof InvalidRequestError) {
        assert.ok(error.field?.startsWith(i % 2 ? "tools.0.parameters" : "format.schema"), error.field ?? "");
        continue;
      }
      assert.fail(`schema ${i} threw ${String(error)}: ${JSON.stringify(schema)?.slice(0, 300)}`);
    }
    assert.ok(grammar, `schema ${i}`);
    await assert.doesNotReject(
      llama.createGrammar({ grammar }),
      `schema ${i}: ${JSON.stringify(schema)?.slice(0, 300)}`,
    );
    const ms = performance.now() - started;
    if (ms > slowest.ms) slowest = { ms, index: i };
    if (i % 2 === 0 && ajvAccepts(schema)) {
      // A document of the grammar must validate; tool-call grammars wrap it, so only documents are checked.
      const doc = new GbnfSampler(grammar).sample("root", random, 200);
      const verdict = checkJson(doc, schema);
      assert.ok(
        verdict.ok,
        `schema ${i}: ${doc.slice(0, 200)} ${verdict.ok ? "" : verdict.error} ${JSON.stringify(schema)?.slice(0, 300)}`,
      );
    }
    converted++;
  }
  assert.ok(converted > 300, `only ${converted} converted: the generators are too nasty to test conversion`);
  // Liveness only: the blocking 3000-property case took 16 s before the limits.
  assert.ok(slowest.ms < 5000, `slowest conversion and compile took ${slowest.ms} ms`);
  console.log(
    `# ${converted}/${schemas.length} converted and compiled, slowest (#${slowest.index}) ${slowest.ms.toFixed(0)} ms`,
  );
});

/** A FakeEngine that refuses what LocalEngine would, through the same GrammarCache.textFor. */
class CheckingEngine extends FakeEngine {
  private readonly grammars = new GrammarCache(undefined as never);
  check(request: GenerateRequest): void {
    this.grammars.textFor(request);
  }
}

test("through the HTTP route, nasty schemas and deep bodies get a 400, never a 500", async () => {
  const scheduler = new Scheduler();
  scheduler.attach(new CheckingEngine(1, 1 << 20));
  const app = await buildServer({ provider: scheduler });
  // Deep values are spliced in as text: JSON.stringify itself overflows the stack near 5000 levels.
  const post = (body: Record<string, unknown>, deep = "") => {
    const payload = JSON.stringify({ messages: [{ role: "user", content: "hi" }], max_tokens: 4, ...body });
    return app.inject({
      method: "POST",
      url: "/v1/chat/completions",
      headers: { "content-type": "application/json" },
      payload: payload.replace('"DEEP"', deep),
    });
  };
  const deepSchema = `${'{"type":"array","items":'.repeat(10_000)}{"type":"string"}${"}".repeat(10_000)}`;
  const format = (schema: unknown) => ({
    response_format: { type: "json_schema", json_schema: { name: "s", schema } },
  });
  const tool = (parameters: unknown) => ({
    tools: [{ type: "function", function: { name: "f", parameters } }],
    tool_choice: "required",
  });

  const expectations: [Record<string, unknown>, string][] = [
    [format("DEEP"), "response_format.json_schema.schema.items.items"],
    [tool("DEEP"), "tools[0].function.parameters.items.items"],
    [format(optional(3000)), "response_format.json_schema.schema.properties"],
    [
      tool({ type: "object", properties: { a: { type: "string", minLength: 100_000 } } }),
      "tools[0].function.parameters.properties.a.minLength",
    ],
    [
      format({ type: "object", properties: { a: { $ref: "#" } }, required: ["a"] }),
      "response_format.json_schema.schema.properties.a.$ref",
    ],
  ];
  for (const [body, param] of expectations) {
    const started = performance.now();
    const res = await post(body, deepSchema);
    assert.equal(res.statusCode, 400, res.body.slice(0, 300));
    assert.equal(res.json().error.code, "unsupported_schema");
    assert.ok(res.json().error.param.startsWith(param), res.json().error.param);
    assert.ok(performance.now() - started < 5000);
  }

  // Deep JSON elsewhere in the body is parsed (JSON.parse is iterative) and ignored, not a crash.
  const deep = `${'{"d":'.repeat(10_000)}1${"}".repeat(10_000)}`;
  let res = await post({ unknown_field: "DEEP" }, deep);
  assert.equal(res.statusCode, 200, res.body.slice(0, 300));
  res = await post(
    { messages: [{ role: "user", content: [{ type: "text", text: "hi", extra: "DEEP" }] }] },
    deep,
  );
  assert.equal(res.statusCode, 200, res.body.slice(0, 300));

  const random = seeded(7);
  for (let i = 0; i < 40; i++) {
    const schema = nasty(random, 0);
    res = await post(i % 2 ? tool(schema) : format(schema));
    assert.ok(
      [200, 400].includes(res.statusCode),
      `${res.statusCode} ${res.body.slice(0, 300)} for ${JSON.stringify(schema)}`,
    );
  }
  await app.close();
});
