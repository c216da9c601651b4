import { InvalidRequestError } from "../provider/errors.js";
import type { FieldPath, SchemaField, Wording } from "../provider/fields.js";

/**
 * What a JSON schema may ask of constrained decoding, in one place. A schema past a limit is refused
 * with a 400 `unsupported_schema` naming the keyword, before anything recursive touches it, so no schema
 * can overflow the stack, block the event loop or exhaust memory. Each limit is far above what real
 * schemas use; the costs they bound were measured with node-llama-cpp 3.22 (llama.cpp's grammar parser)
 * on this project's 2-core test machine, see docs/structured-output.md.
 */

/**
 * Deepest nesting of objects and arrays in a schema's JSON text. An object nested in another's
 * `properties` costs two levels (`properties`, then the property), so 64 allows 32 nested objects.
 * Checked first, by an iterative walk: JSON.stringify overflows the stack near 5000 levels, ajv and the
 * grammar converter recurse too.
 */
export const MAX_SCHEMA_DEPTH = 64;

/** Most JSON values in one schema (keys, `$defs` and annotations included): bounds the converter's work. */
export const MAX_SCHEMA_NODES = 20_000;

/**
 * Most declared properties of one object schema. Optional properties cost one rule each (the grammar
 * grows linearly), but every property is a candidate at each key position while decoding.
 */
export const MAX_PROPERTIES = 1000;

/**
 * Largest repetition lower bound: `minLength`, `minItems`, `{n}` / `{n,m}` in a pattern (each repetition
 * is expanded by llama.cpp, which refuses bounds above 2000). A larger upper bound (`maxLength`,
 * `maxItems`, `{n,m}`) is lowered to this one: the grammar then generates a subset of what the schema
 * allows (llama.cpp itself would read an upper bound above 2000 as "unbounded").
 */
export const MAX_REPEAT = 1000;

/** Most members of one `enum`, and most branches of one `anyOf` / `oneOf`. */
export const MAX_ALTERNATIVES = 1000;

/** Largest JSON text of one `enum`'s (or `const`'s) members together, in characters. */
export const MAX_ENUM_CHARS = 64 * 1024;

/** Longest `pattern`, in characters, and its deepest group nesting. */
export const MAX_PATTERN_LENGTH = 4096;
export const MAX_PATTERN_DEPTH = 32;

/**
 * Largest grammar of one request, in llama.cpp grammar elements after its repetitions are expanded
 * (what llama.cpp allocates and walks when it compiles the grammar, once per request).
 */
export const MAX_GRAMMAR_ELEMENTS = 200_000;

/**
 * Most grammar elements llama.cpp's left-recursion check may scan. It walks every path of references
 * that consume no input (chains of `$ref`, `anyOf`, optional parts) without memoizing, so branching
 * references such as `{"anyOf": [{"$ref": "#/$defs/b"}, {"$ref": "#/$defs/b"}]}` chained 30 deep
 * would take it minutes; gbnf-check.ts replays the walk and counts. A million scans take a few ms.
 */
export const MAX_LEFT_WALK = 1_000_000;

/** The InvalidRequestError every limit and unsupported keyword throws. */
export function unsupported(field: FieldPath, message: string | Wording): InvalidRequestError {
  return new InvalidRequestError(message, { field }, "unsupported_schema");
}

interface Visit {
  value: unknown;
  depth: number;
  parent: Visit | undefined;
  key: string;
}

/**
 * Refuses a schema nested deeper than MAX_SCHEMA_DEPTH or larger than MAX_SCHEMA_NODES, without
 * recursion. `field` names the schema in the request (e.g. "tools.0.parameters").
 */
export function checkSchemaShape(schema: unknown, field: SchemaField): void {
  const stack: Visit[] = [{ value: schema, depth: 0, parent: undefined, key: "" }];
  // Values seen or waiting on the stack; a property name counts as one, it ends up in the grammar.
  let nodes = 1;
  while (stack.length > 0) {
    const visit = stack.pop() as Visit;
    const { value } = visit;
    if (typeof value !== "object" || value === null) continue;
    if (visit.depth >= MAX_SCHEMA_DEPTH) {
      const where = pathOf(visit, field);
      throw unsupported(
        where,
        (name) =>
          `The JSON schema nests objects and arrays more than ${MAX_SCHEMA_DEPTH} levels deep (at '${name(where)}').`,
      );
    }
    const names = Array.isArray(value) ? undefined : Object.keys(value);
    nodes += names ? 2 * names.length : (value as unknown[]).length;
    if (nodes > MAX_SCHEMA_NODES) throw tooLarge(field);
    for (const key of names ?? (value as unknown[]).map((_, i) => String(i)))
      stack.push({
        value: (value as Record<string, unknown>)[key],
        depth: visit.depth + 1,
        parent: visit,
        key,
      });
  }
}

function tooLarge(field: SchemaField): InvalidRequestError {
  return unsupported(
    field,
    (name) =>
      `The JSON schema at '${name(field)}' is too large: more than ${MAX_SCHEMA_NODES} values (keys included).`,
  );
}

/** `field.a.b` for the keys from the root to `visit`. */
function pathOf(visit: Visit, field: SchemaField): FieldPath {
  const keys: string[] = [];
  for (let v: Visit | undefined = visit; v?.parent; v = v.parent) keys.push(v.key);
  return [field, ...keys.reverse()].join(".") as FieldPath;
}
