import assert from "node:assert/strict";
import { test } from "node:test";
import { grammarFor } from "../../src/engine/grammar.js";
import { InvalidRequestError } from "../../src/provider/errors.js";
import { uintRange } from "../../src/structured/gbnf.js";
import { documentGrammar } from "../helpers/document-grammar.js";

const P = "format.schema";

function refusal(schema: unknown): InvalidRequestError {
  try {
    documentGrammar(schema as Record<string, unknown>);
  } catch (error) {
    assert.ok(error instanceof InvalidRequestError);
    return error;
  }
  assert.fail(`accepted ${JSON.stringify(schema)}`);
}

test("keywords the grammar cannot enforce are refused by name, never ignored", () => {
  const cases: [unknown, string][] = [
    [{ type: "integer", multipleOf: 2 }, `${P}.multipleOf`],
    [
      { type: "object", properties: { a: { type: "array", uniqueItems: true } } },
      `${P}.properties.a.uniqueItems`,
    ],
    [{ type: "object", minProperties: 1 }, `${P}.minProperties`],
    [{ type: "object", patternProperties: {} }, `${P}.patternProperties`],
    [{ not: { type: "string" } }, `${P}.not`],
    [{ if: {}, else: {} }, `${P}.if`],
    [{ allOf: [{ type: "string" }, { maxLength: 3 }] }, `${P}.allOf`],
    [{ oneOf: [{ type: "number" }, { type: "integer" }] }, `${P}.oneOf`],
    [{ type: "string", format: "hostname" }, `${P}.format`],
    [{ type: "string", pattern: "^(?=a)b$" }, `${P}.pattern`],
    [{ type: "string", pattern: "^(a)\\1$" }, `${P}.pattern`],
    [{ $ref: "https://example.com/schema" }, `${P}.$ref`],
    [{ type: "object", properties: { a: { type: "string" } }, required: ["b"] }, `${P}.required`],
    [{ type: "number", minimum: 0.2, maximum: 0.8 }, `${P}.minimum`],
    [{ type: "strin" }, `${P}.type`],
  ];
  for (const [schema, param] of cases) {
    const error = refusal(schema);
    assert.equal(error.field, param, JSON.stringify(schema));
    assert.equal(error.code, "unsupported_schema");
    assert.equal(error.status, 400);
  }
});

test("supported schemas compile to grammars", () => {
  for (const schema of [
    true,
    {},
    { type: "object", properties: { a: { type: "string", pattern: "^[a-z]+@[a-z]+\\.com$" } } },
    { type: ["string", "null"], maxLength: 3 },
    { enum: [1, "two", null, { three: 3 }] },
    { $defs: { n: { type: "object", properties: { next: { $ref: "#/$defs/n" } } } }, $ref: "#/$defs/n" },
  ]) {
    assert.match(documentGrammar(schema), /^root ::= /);
  }
});

test("integer ranges enumerate exactly the integers in range", () => {
  // Expand the GBNF alternatives for small ranges by brute force over candidate strings.
  const matches = (grammar: string, text: string) => new RegExp(`^(?:${toRegex(grammar)})$`).test(text);
  for (const [lo, hi] of [
    [0, 0],
    [0, 9],
    [3, 47],
    [10, 99],
    [95, 1005],
    [0, 150],
    [7, 7],
  ]) {
    const grammar = uintRange(lo, hi) ?? "";
    for (let n = 0; n <= 1100; n++)
      assert.equal(matches(grammar, String(n)), n >= lo && n <= hi, `${n} in [${lo}, ${hi}]: ${grammar}`);
    assert.ok(!matches(grammar, "007"));
  }
});

/** The digit-range subset of GBNF that uintRange emits, as a regex. */
function toRegex(gbnf: string): string {
  return gbnf
    .replace(/"(\d)"/g, "$1")
    .replace(/ /g, "")
    .replace(/\(/g, "(?:");
}

test("forced tool calls get a grammar for exactly the chosen function's call", () => {
  const prompt = {
    kind: "chat" as const,
    messages: [],
    tools: [{ name: "a", parameters: { type: "object" } }, { name: "b" }],
  };
  const named = grammarFor({ prompt, toolChoice: { name: "b" } }) ?? "";
  assert.ok(named.includes('"<tool_call>\\n{\\"name\\": \\"b\\", \\"arguments\\": " args-1'));
  assert.ok(!named.includes('\\"name\\": \\"a\\"'));
  assert.equal(grammarFor({ prompt, toolChoice: "auto" }), undefined);
  assert.equal(grammarFor({ prompt, toolChoice: "none" }), undefined);
  assert.match(
    grammarFor({ prompt, toolChoice: "required", parallelToolCalls: false }) ?? "",
    /^root ::= tool-call\n/,
  );
});
