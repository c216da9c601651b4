import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";

/**
 * OpenAI's own schemas for a Response, its stream events and an error body (OpenAPI 3.1, so JSON Schema
 * 2020-12), from the fixture scripts/extract-responses-spec.mjs cuts out of openai/openai-openapi. A shape
 * this server sends is checked against them: a required field left out, or a value of the wrong type or
 * enum, is named with where it is.
 */

const FIXTURE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../../test/openai/spec/openai-responses-spec.json",
);
const ID = "openai-responses-spec";

const spec = JSON.parse(readFileSync(FIXTURE, "utf8")) as {
  components: { schemas: Record<string, { anyOf?: { $ref: string }[] }> };
};
// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as unknown as (instance: Ajv2020) => void;

// strictSchema: a keyword ajv does not know (one the extraction should have dropped) fails loudly rather
// than constraining nothing. The spec's allOf lists `required` apart from the properties, which the other
// strict checks would refuse.
const ajv = new Ajv2020({
  allErrors: true,
  strictSchema: true,
  strictRequired: false,
  strictTypes: false,
  strictTuples: false,
});
addFormats(ajv);
// The document's own layout (OpenAPI's), which the spec's $refs point into.
ajv.addKeyword("components");
// The spec's number formats (a Unix time, a float): a number of the declared type is enough.
for (const format of ["unixtime", "float"]) ajv.addFormat(format, { type: "number", validate: () => true });
ajv.addSchema(spec);

/** The event schema for each `type` (ResponseStreamEvent is an anyOf of one schema per type). */
const eventSchemas = new Map<string, string>();
for (const { $ref } of spec.components.schemas.ResponseStreamEvent.anyOf ?? []) {
  const name = $ref.split("/").at(-1) as string;
  const type = (spec.components.schemas[name] as { properties?: { type?: { enum?: string[] } } }).properties
    ?.type?.enum?.[0];
  if (type) eventSchemas.set(type, name);
}

/** What is wrong with `value` as the spec's schema `name`: one line per error, none when it conforms. */
export function specErrors(name: string, value: unknown): string[] {
  const validate = ajv.getSchema(`${ID}#/components/schemas/${name}`);
  if (!validate) throw new Error(`the spec fixture has no schema ${name}`);
  if (validate(value)) return [];
  return (validate.errors ?? []).map(
    (e) => `${name}${e.instancePath} ${e.message} ${JSON.stringify(e.params)} (${e.schemaPath})`,
  );
}

/** What is wrong with a stream event, checked against the schema of its own `type`. */
export function eventErrors(event: { type: string }): string[] {
  const name = eventSchemas.get(event.type);
  if (!name) return [`no event of type '${event.type}' in OpenAI's spec`];
  return specErrors(name, event);
}
