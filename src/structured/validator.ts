import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { InvalidRequestError } from "../provider/errors.js";
import type { SchemaField } from "../provider/fields.js";
import type { JsonSchema } from "../provider/types.js";

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as unknown as (instance: Ajv2020) => void;

/**
 * JSON Schema 2020-12 validation (ajv), with formats checked in full. ownProperties: a property named
 * like an Object.prototype member ("constructor") is otherwise found on every parsed document.
 */
const ajv = new Ajv2020({ allErrors: false, strict: false, validateFormats: true, ownProperties: true });
addFormats(ajv);

const compiled = new Map<string, ValidateFunction>();
const MAX_COMPILED = 128;

/** A compiled validator for `schema`, cached by its JSON text (LRU). Throws a 400 if ajv rejects it. */
export function validatorFor(schema: JsonSchema, field: SchemaField = "format.schema"): ValidateFunction {
  const key = JSON.stringify(schema);
  const hit = compiled.get(key);
  if (hit) {
    compiled.delete(key);
    compiled.set(key, hit);
    return hit;
  }
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(typeof schema === "boolean" ? schema : { ...schema });
  } catch (error) {
    throw new InvalidRequestError(
      `Invalid JSON schema: ${(error as Error).message}`,
      { field },
      "invalid_schema",
    );
  }
  compiled.set(key, validate);
  if (compiled.size > MAX_COMPILED) compiled.delete(compiled.keys().next().value as string);
  return validate;
}

export type Verdict = { ok: true; value: unknown } | { ok: false; error: string };

/** Parses `text` as JSON and validates it; the error says what is wrong, in words a model can act on. */
export function checkJson(text: string, schema: JsonSchema | undefined): Verdict {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `The answer is not valid JSON (${(error as Error).message}).` };
  }
  if (schema === undefined) {
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? { ok: true, value }
      : { ok: false, error: "The answer must be a JSON object." };
  }
  const validate = validatorFor(schema);
  if (validate(value)) return { ok: true, value };
  return { ok: false, error: `The JSON does not match the schema: ${describe(validate.errors ?? [])}` };
}

function describe(errors: ErrorObject[]): string {
  return errors
    .slice(0, 5)
    .map((e) => `${e.instancePath || "(root)"} ${e.message ?? "is invalid"}`)
    .join("; ");
}
