#!/usr/bin/env node
// Writes test/openai/spec/openai-responses-spec.json: the schemas of OpenAI's OpenAPI spec that a Responses
// body, its stream events and an error body are checked against (test/helpers/openai-spec.ts), with every
// schema they reference. Descriptions, examples and the spec's x- extensions are dropped (they describe, they do
// not constrain), and so is `discriminator`, an OpenAPI annotation over a oneOf that already constrains.
//
//   node scripts/extract-responses-spec.mjs <openapi.json from openai/openai-openapi> "<source, e.g. commit f85dbe2>"
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

const ROOTS = ["Response", "ResponseStreamEvent", "ErrorResponse"];
const OUT = "test/openai/spec/openai-responses-spec.json";

const [specPath, source] = process.argv.slice(2);
if (!specPath || !source) {
  console.error('usage: extract-responses-spec.mjs <openapi.json> "<source description>"');
  process.exit(2);
}
const spec = JSON.parse(readFileSync(specPath, "utf8"));
const all = spec.components.schemas;

const DROPPED = new Set(["description", "example", "examples", "discriminator", "title"]);

/** A schema without what only describes; `properties` keeps every property, whatever its name. */
function strip(node, underProperties = false) {
  if (Array.isArray(node)) return node.map((item) => strip(item));
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (!underProperties && (DROPPED.has(key) || key.startsWith("x-"))) continue;
    out[key] = strip(value, !underProperties && key === "properties");
  }
  return out;
}

const schemas = {};
const pending = [...ROOTS];
while (pending.length > 0) {
  const name = pending.pop();
  if (schemas[name]) continue;
  if (!all[name]) throw new Error(`the spec has no schema ${name}`);
  schemas[name] = strip(all[name]);
  for (const [, ref] of JSON.stringify(schemas[name]).matchAll(/"#\/components\/schemas\/([^"]+)"/g))
    pending.push(ref);
}

const sorted = Object.fromEntries(
  Object.keys(schemas)
    .sort()
    .map((name) => [name, schemas[name]]),
);
const fixture = {
  $id: "openai-responses-spec",
  $comment: `From openai/openai-openapi ${source} (OpenAPI ${spec.openapi}, API ${spec.info.version}) by scripts/extract-responses-spec.mjs: ${ROOTS.join(", ")} and what they reference.`,
  components: { schemas: sorted },
};
writeFileSync(OUT, `${JSON.stringify(fixture, null, 2)}\n`);
// In the repository's format, so that a regeneration's diff is the spec's change alone.
execFileSync("node_modules/.bin/biome", ["format", "--write", OUT], { stdio: "inherit" });
console.log(`${OUT}: ${Object.keys(sorted).length} schemas`);
