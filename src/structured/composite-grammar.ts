import type { JsonSchema } from "../provider/types.js";
import { literal } from "./gbnf.js";
import { MAX_PROPERTIES, MAX_REPEAT } from "./limits.js";

/** What object and array translation needs from SchemaGrammar. */
export interface GrammarBuilder {
  convert(schema: JsonSchema | undefined, path: string[]): string;
  /** A named rule for `body`, shared with any identical one. */
  rule(hint: string, body: string, path: string[]): string;
  /** `expression` as a single rule reference (itself when it already is one). */
  atomic(expression: string, hint: string, path: string[]): string;
  fail(path: string[], keyword: string, why: string): never;
}

type Schema = Record<string, unknown>;

/**
 * A count range (minLength/maxLength, minItems/maxItems): a lower bound above MAX_REPEAT is refused,
 * an upper one lowered to it (the grammar then generates a subset).
 */
export function countBounds(
  b: GrammarBuilder,
  schema: Schema,
  low: string,
  high: string,
  path: string[],
): [number, number | undefined] {
  const count = (keyword: string): number | undefined => {
    const value = schema[keyword];
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0)
      b.fail(path, keyword, "not a non-negative integer.");
    return value;
  };
  const min = count(low) ?? 0;
  const max = count(high);
  if (max !== undefined && max < min) b.fail(path, high, `${high} < ${low}.`);
  if (min > MAX_REPEAT)
    b.fail(
      path,
      low,
      `${min} is above the largest supported bound, ${MAX_REPEAT}: a grammar repeats by copying.`,
    );
  return [min, max === undefined ? undefined : Math.min(max, MAX_REPEAT)];
}

export function objectGrammar(b: GrammarBuilder, schema: Schema, path: string[]): string {
  const properties = schema.properties ?? {};
  if (typeof properties !== "object" || properties === null || Array.isArray(properties))
    b.fail(path, "properties", "not an object.");
  const required = schema.required ?? [];
  if (!Array.isArray(required)) b.fail(path, "required", "not an array.");
  const names = Object.keys(properties);
  if (names.length > MAX_PROPERTIES)
    b.fail(path, "properties", `${names.length} properties; at most ${MAX_PROPERTIES} are supported.`);
  const declared = new Set(names);
  for (const name of required) {
    if (typeof name !== "string" || !declared.has(name))
      b.fail(path, "required", `'${String(name).slice(0, 80)}' is required but not declared in properties.`);
  }
  const hint = path.at(-1) ?? "object";
  if (names.length === 0) {
    const additional = schema.additionalProperties as JsonSchema | undefined;
    if (additional === false) return '"{" ws "}"';
    const value = b.atomic(b.convert(additional, [...path, "additionalProperties"]), "value", path);
    const pair = `json-string ":" ws ${value}`;
    return b.rule("map", `"{" ws (${pair} ("," ws ${pair})*)? "}"`, path);
  }
  const mandatory = new Set(required as string[]);
  const members = names.map((name) => {
    const value = b.convert((properties as Schema)[name] as JsonSchema, [...path, "properties", name]);
    return { pair: `${literal(JSON.stringify(name))} ":" ws ${value}`, required: mandatory.has(name) };
  });
  return b.rule(hint, `"{" ws ${memberList(b, members, `${hint}-rest`, path)} "}"`, path);
}

/**
 * The declared properties in order, every required one, any optional one, comma-separated, in a
 * grammar linear in their number (listing each first-present combination would be quadratic, and
 * llama.cpp refused it from 50 optional properties on). Built from the last: `rest` is "the members
 * from k on, at least one of them, all the required ones". An optional member k either comes first,
 * then a comma and rest(k+1) (itself optional while nothing later is required), or is skipped for
 * rest(k+1): rest(k+1) is used twice, so it becomes a rule; each optional member costs one rule.
 */
function memberList(
  b: GrammarBuilder,
  members: { pair: string; required: boolean }[],
  hint: string,
  path: string[],
): string {
  let rest = "";
  let requiredLater = false;
  const then = (next: string) =>
    requiredLater ? `"," ws ${next}` : `("," ws ${b.atomic(next, hint, path)})?`;
  for (let k = members.length - 1; k >= 0; k--) {
    const { pair, required } = members[k];
    if (rest === "") rest = pair;
    else if (required) rest = `${pair} ${then(rest)}`;
    else {
      const next = b.atomic(rest, hint, path);
      rest = `(${pair} ${then(next)} | ${next})`;
    }
    requiredLater ||= required;
  }
  return requiredLater ? rest : `${b.atomic(rest, hint, path)}?`;
}

export function arrayGrammar(b: GrammarBuilder, schema: Schema, path: string[]): string {
  if (schema.uniqueItems === true)
    b.fail(path, "uniqueItems", "uniqueness cannot be expressed in a grammar.");
  const [min, max] = countBounds(b, schema, "minItems", "maxItems", path);
  const prefix = (schema.prefixItems ?? []) as JsonSchema[];
  if (!Array.isArray(prefix)) b.fail(path, "prefixItems", "not an array.");
  const items = schema.items as JsonSchema | undefined;
  if (Array.isArray(items)) b.fail(path, "items", "tuple items (draft-07 arrays); use prefixItems.");
  // Repeated by reference: llama.cpp copies what it repeats.
  const item = items === false ? undefined : b.atomic(b.convert(items, [...path, "items"]), "item", path);
  if (prefix.length > 0) {
    // Every prefix item is generated, then extra items within the count bounds.
    if (schema.maxItems !== undefined && (schema.maxItems as number) < prefix.length)
      b.fail(path, "maxItems", "maxItems below the number of prefixItems.");
    const head = prefix.map((p, i) => b.convert(p, [...path, "prefixItems", String(i)])).join(' "," ws ');
    const extraMin = Math.max(0, min - prefix.length);
    const extraMax = max === undefined ? undefined : Math.max(0, max - prefix.length);
    if (!item && extraMin > 0) b.fail(path, "minItems", "more items required than prefixItems allows.");
    const extra = !item || extraMax === 0 ? "" : ` ("," ws ${item})${repeat(extraMin, extraMax)}`;
    return b.rule("tuple", `"[" ws ${head}${extra} "]"`, path);
  }
  if (!item || max === 0) {
    if (min > 0) b.fail(path, "minItems", "items are required but items is false.");
    return '"[" ws "]"';
  }
  const rest =
    max === 1
      ? ""
      : ` ("," ws ${item})${repeat(Math.max(0, min - 1), max === undefined ? undefined : max - 1)}`;
  const list = `${item}${rest}`;
  const body = min === 0 ? `"[" ws ${b.atomic(list, "items", path)}? "]"` : `"[" ws ${list} "]"`;
  return b.rule(path.at(-1) ?? "array", body, path);
}

function repeat(min: number, max: number | undefined): string {
  return max === undefined ? `{${min},}` : `{${min},${max}}`;
}
