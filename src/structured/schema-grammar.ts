import type { JsonSchema } from "../engine/types.js";
import { InvalidRequestError } from "../errors.js";
import { JSON_RULES, jsonLiteral, jsonRulesUsedBy, literal, uintRange } from "./gbnf.js";
import { PatternError, patternToGbnf } from "./regex-grammar.js";

/**
 * JSON Schema -> GBNF, by an explicit allow-list. Every keyword is either enforced by the grammar or
 * refused with a 400 naming it; none is ignored. The grammar may generate a subset of the valid
 * documents (it never adds properties a schema with `properties` does not declare, and lists declared
 * properties in order), never a document outside the schema.
 *
 * Why not node-llama-cpp's GbnfJsonSchema: it makes every property required and has no numeric bounds
 * nor patterns, so optional properties, `minimum`/`maximum` and `pattern` would need refusing.
 */

type Schema = Record<string, unknown>;

/** Keywords with no effect on validity. */
const ANNOTATIONS = [
  "title",
  "description",
  "$comment",
  "examples",
  "default",
  "deprecated",
  "readOnly",
  "writeOnly",
  "$schema",
  "$id",
  "strict",
];
const STRUCTURAL = ["type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions"];
const BY_TYPE: Record<string, string[]> = {
  string: ["minLength", "maxLength", "pattern", "format"],
  number: ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"],
  integer: ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"],
  object: ["properties", "required", "additionalProperties"],
  array: ["items", "prefixItems", "minItems", "maxItems", "uniqueItems"],
  boolean: [],
  null: [],
};
const ALLOWED = new Set([...ANNOTATIONS, ...STRUCTURAL, ...Object.values(BY_TYPE).flat()]);
const TYPES = Object.keys(BY_TYPE);

const FORMATS: Record<string, string> = {
  // Days stop at 28 so every generated date exists, whatever the month.
  date: '[0-9]{4} "-" ("0" [1-9] | "1" [0-2]) "-" ("0" [1-9] | "1" [0-9] | "2" [0-8])',
  time: '([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,3})? ("Z" | [+-] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9])',
  "date-time": 'fmt-date "T" fmt-time',
  uuid: '[0-9a-f]{8} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{12}',
  email: '[a-z0-9]{1,20} ("." [a-z0-9]{1,20})? "@" [a-z0-9]{1,20} "." [a-z]{2,6}',
  ipv4: `fmt-octet ("." fmt-octet){3}`,
};

/** Where a schema sits in the request, for error params: e.g. "response_format.json_schema.schema". */
export class SchemaGrammar {
  private readonly rules = new Map<string, string>();
  private readonly names = new Map<string, string>();
  private readonly refs = new Map<string, string>();
  private counter = 0;

  private constructor(
    private readonly root: JsonSchema,
    private readonly param: string,
    private readonly namespace: string,
  ) {}

  /**
   * The rule for `schema` and every rule it needs, as GBNF text with `rootName` as the schema's rule.
   * Throws InvalidRequestError (code "unsupported_schema") naming the first keyword it cannot enforce.
   */
  static rules(
    schema: JsonSchema,
    param: string,
    rootName = "root",
    namespace = "",
  ): { rootExpression: string; text: string } {
    const builder = new SchemaGrammar(schema, param, namespace);
    const rootExpression = builder.convert(schema, []);
    return { rootExpression, text: builder.render(`${rootName} ::= ${rootExpression}`) };
  }

  /** A complete grammar for `schema`. */
  static grammar(schema: JsonSchema, param: string): string {
    return SchemaGrammar.rules(schema, param).text;
  }

  private render(rootRule: string): string {
    const lines = [rootRule, ...[...this.rules].map(([name, body]) => `${name} ::= ${body}`)];
    for (const name of jsonRulesUsedBy([rootRule, ...this.rules.values()])) {
      lines.push(`${name} ::= ${JSON_RULES[name]}`);
    }
    return `${lines.join("\n")}\n`;
  }

  private fail(path: string[], keyword: string, why: string): never {
    const where = [this.param, ...path, keyword].join(".");
    throw new InvalidRequestError(
      `The JSON schema keyword '${keyword}' at '${where}' cannot be enforced by constrained decoding: ${why}`,
      where,
      "unsupported_schema",
    );
  }

  /** A named rule for `body`, shared with any identical one. */
  private rule(hint: string, body: string): string {
    const existing = this.names.get(body);
    if (existing) return existing;
    const name = `${this.namespace}${
      hint
        .replace(/[^a-zA-Z0-9]+/g, "-")
        .replace(/^-|-$/g, "")
        .slice(0, 24) || "r"
    }-${this.counter++}`;
    this.names.set(body, name);
    this.rules.set(name, body);
    return name;
  }

  private convert(schema: JsonSchema | undefined, path: string[]): string {
    if (schema === undefined || schema === true) return "json-value";
    if (schema === false) this.fail(path, "false", "a schema that accepts nothing.");
    if (typeof schema !== "object" || schema === null || Array.isArray(schema))
      this.fail(path, "schema", "a schema must be an object or a boolean.");
    for (const key of Object.keys(schema)) {
      if (!ALLOWED.has(key)) this.fail(path, key, "this keyword is not supported.");
    }
    const keys = Object.keys(schema).filter(
      (k) => !ANNOTATIONS.includes(k) && k !== "$defs" && k !== "definitions",
    );
    if (keys.length === 0) return "json-value";

    if (schema.$ref !== undefined) {
      if (keys.length > 1) this.fail(path, keys.find((k) => k !== "$ref") ?? "$ref", "keywords beside $ref.");
      return this.ref(schema.$ref, path);
    }
    if (schema.const !== undefined || schema.enum !== undefined) return this.enumeration(schema, path);
    for (const combinator of ["anyOf", "oneOf", "allOf"] as const) {
      if (schema[combinator] === undefined) continue;
      const other = keys.find((k) => k !== combinator);
      if (other) this.fail(path, other, `keywords beside ${combinator}; move them into each branch.`);
      return this.combination(schema, combinator, path);
    }
    const types = this.types(schema, path);
    const alternatives = types.map((type) => this.typed(schema, type, path));
    return alternatives.length === 1 ? alternatives[0] : `(${alternatives.join(" | ")})`;
  }

  private types(schema: Schema, path: string[]): string[] {
    const { type } = schema;
    if (type === undefined) {
      // No type: infer it from the type-specific keywords (a subset of "anything").
      const inferred = TYPES.filter((t) => BY_TYPE[t].some((k) => k in schema) && t !== "integer");
      return inferred.length > 0 ? inferred : ["string", "number", "boolean", "null", "object", "array"];
    }
    const list = Array.isArray(type) ? type : [type];
    for (const t of list)
      if (typeof t !== "string" || !TYPES.includes(t))
        this.fail(path, "type", `unknown type ${JSON.stringify(t)}.`);
    return list.filter((t) => !(t === "integer" && list.includes("number")));
  }

  private ref(ref: unknown, path: string[]): string {
    if (typeof ref !== "string") this.fail(path, "$ref", "not a string.");
    const cached = this.refs.get(ref);
    if (cached) return cached;
    const match = /^#(?:\/(\$defs|definitions)\/([^/]+))?$/.exec(ref);
    const root = this.root as Schema;
    const target = match?.[1] ? (root[match[1]] as Schema | undefined)?.[match[2]] : match ? root : undefined;
    if (target === undefined)
      this.fail(path, "$ref", `only local references to #/$defs/<name> are supported (got ${ref}).`);
    // Name the rule before converting, so recursive schemas refer back to it.
    const name = `${this.namespace}ref-${this.counter++}`;
    this.refs.set(ref, name);
    this.rules.set(name, "");
    const defPath = match?.[1] ? [match[1], match[2]] : [];
    this.rules.set(name, this.convert(target as JsonSchema, defPath));
    return name;
  }

  private enumeration(schema: Schema, path: string[]): string {
    const keyword = schema.const !== undefined ? "const" : "enum";
    const values = keyword === "const" ? [schema.const] : schema.enum;
    if (!Array.isArray(values) || values.length === 0) this.fail(path, keyword, "an empty enum.");
    const others = Object.keys(schema).filter(
      (k) => !ANNOTATIONS.includes(k) && k !== keyword && k !== "type",
    );
    if (others.length > 0) this.fail(path, others[0], `keywords beside ${keyword} other than type.`);
    const types = schema.type === undefined ? undefined : this.types(schema, path);
    const allowed = values.filter((v) => types === undefined || types.some((t) => hasType(v, t)));
    if (allowed.length === 0) this.fail(path, keyword, "no value matches the schema's type.");
    return `(${allowed.map(jsonLiteral).join(" | ")})`;
  }

  private combination(schema: Schema, combinator: "anyOf" | "oneOf" | "allOf", path: string[]): string {
    const branches = schema[combinator];
    if (!Array.isArray(branches) || branches.length === 0) this.fail(path, combinator, "an empty list.");
    if (combinator === "allOf") {
      if (branches.length > 1)
        this.fail(path, combinator, "allOf with several schemas; merge them into one.");
      return this.convert(branches[0], [...path, "allOf", "0"]);
    }
    // oneOf means exactly one branch matches: only safe when branches cannot overlap.
    if (combinator === "oneOf" && !disjoint(branches)) {
      this.fail(
        path,
        combinator,
        "its branches may overlap, so a generated value could match two; use anyOf, or give each branch a distinct type.",
      );
    }
    return `(${branches.map((b, i) => this.convert(b, [...path, combinator, String(i)])).join(" | ")})`;
  }

  private typed(schema: Schema, type: string, path: string[]): string {
    switch (type) {
      case "string":
        return this.string(schema, path);
      case "number":
      case "integer":
        return this.number(schema, type, path);
      case "boolean":
        return "json-boolean";
      case "null":
        return "json-null";
      case "object":
        return this.object(schema, path);
      default:
        return this.array(schema, path);
    }
  }

  private string(schema: Schema, path: string[]): string {
    const { format, pattern } = schema;
    const min = this.count(schema, "minLength", path) ?? 0;
    const max = this.count(schema, "maxLength", path);
    const lengths = schema.minLength !== undefined || schema.maxLength !== undefined;
    if (format !== undefined) {
      if (typeof format !== "string" || !(format in FORMATS))
        this.fail(path, "format", `supported formats are ${Object.keys(FORMATS).join(", ")}.`);
      if (pattern !== undefined || lengths)
        this.fail(path, "format", "format combined with pattern or lengths.");
      if (format === "date-time") {
        this.rules.set("fmt-date", FORMATS.date);
        this.rules.set("fmt-time", FORMATS.time);
      }
      if (format === "ipv4") this.rules.set("fmt-octet", uintRange(0, 255) ?? "");
      return this.rule(`fmt-${format}`, `"\\"" ${FORMATS[format]} "\\""`);
    }
    if (pattern !== undefined) {
      if (typeof pattern !== "string") this.fail(path, "pattern", "not a string.");
      if (lengths)
        this.fail(
          path,
          "pattern",
          "pattern combined with minLength/maxLength; put the length in the pattern.",
        );
      try {
        return this.rule([...path].pop() ?? "pattern", `"\\"" ${patternToGbnf(pattern, "json-char")} "\\""`);
      } catch (error) {
        if (error instanceof PatternError)
          this.fail(
            path,
            "pattern",
            `the pattern uses ${error.message}, outside the supported regex subset.`,
          );
        throw error;
      }
    }
    if (!lengths) return "json-string";
    if (max !== undefined && max < min) this.fail(path, "maxLength", "maxLength < minLength.");
    const repeat = max === undefined ? `{${min},}` : `{${min},${max}}`;
    return this.rule(`str-${min}-${max ?? "n"}`, max === 0 ? '"\\"\\""' : `"\\"" json-char${repeat} "\\""`);
  }

  private count(schema: Schema, keyword: string, path: string[]): number | undefined {
    const value = schema[keyword];
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0)
      this.fail(path, keyword, "not a non-negative integer.");
    return value;
  }

  private number(schema: Schema, type: string, path: string[]): string {
    const bound = (keyword: string): number | undefined => {
      const value = schema[keyword];
      if (value === undefined) return undefined;
      if (typeof value !== "number" || !Number.isFinite(value))
        this.fail(
          path,
          keyword,
          "not a finite number (draft-04 boolean exclusive bounds are not supported).",
        );
      return value;
    };
    const [min, max, exMin, exMax] = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"].map(
      bound,
    );
    const bounded = [min, max, exMin, exMax].some((b) => b !== undefined);
    if (!bounded) return type === "integer" ? "json-int" : "json-number";
    const lo = Math.max(min ?? Number.NEGATIVE_INFINITY, exMin ?? Number.NEGATIVE_INFINITY);
    const hi = Math.min(max ?? Number.POSITIVE_INFINITY, exMax ?? Number.POSITIVE_INFINITY);
    // Integers in range; exclusive bounds step past an integral bound.
    const intLo =
      exMin !== undefined && exMin >= (min ?? Number.NEGATIVE_INFINITY)
        ? Math.floor(exMin) + 1
        : Math.ceil(lo);
    const intHi =
      exMax !== undefined && exMax <= (max ?? Number.POSITIVE_INFINITY)
        ? Math.ceil(exMax) - 1
        : Math.floor(hi);
    const parts = [signedRange(intLo, intHi)];
    if (type === "number") {
      // k.xxx lies strictly between k and k+1 (or -(k+1) and -k), so whole unit intervals inside the bounds are safe.
      // A fraction that is never all zeros keeps k.xxx off k itself, which an exclusive bound may be.
      const fraction = '"." [0-9]{0,5} [1-9]';
      const positive = uintRange(Math.max(0, Math.ceil(lo)), Math.floor(hi) - 1);
      if (positive) parts.push(`(${positive}) ${fraction}`);
      const negative = uintRange(Math.max(0, Math.ceil(-hi)), Math.floor(-lo) - 1);
      if (negative) parts.push(`"-" (${negative}) ${fraction}`);
    }
    const present = parts.filter((p): p is string => p !== undefined);
    const keyword =
      ["minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"].find((k) => schema[k] !== undefined) ??
      "minimum";
    if (present.length === 0)
      this.fail(path, keyword, "no integer, nor number with a whole unit interval, fits the bounds.");
    return this.rule(`${type}-range`, present.map((p) => `(${p})`).join(" | "));
  }

  private object(schema: Schema, path: string[]): string {
    const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
    if (typeof properties !== "object" || Array.isArray(properties))
      this.fail(path, "properties", "not an object.");
    const required = (schema.required ?? []) as unknown[];
    if (!Array.isArray(required)) this.fail(path, "required", "not an array.");
    const names = Object.keys(properties);
    for (const name of required) {
      if (typeof name !== "string" || !names.includes(name))
        this.fail(path, "required", `'${String(name)}' is required but not declared in properties.`);
    }
    const additional = schema.additionalProperties as JsonSchema | undefined;
    if (names.length === 0) {
      if (additional === false) return '"{" ws "}"';
      const value = this.convert(additional, [...path, "additionalProperties"]);
      const pair = `json-string ":" ws ${value}`;
      return this.rule("map", `"{" ws (${pair} ("," ws ${pair})*)? "}"`);
    }
    const pair = (name: string) =>
      `${literal(JSON.stringify(name))} ":" ws ${this.convert(properties[name], [...path, "properties", name])}`;
    const mandatory = names.filter((n) => required.includes(n)).map(pair);
    const optional = names.filter((n) => !required.includes(n)).map(pair);
    let body: string;
    if (mandatory.length > 0) {
      body = [mandatory.join(' "," ws '), ...optional.map((p) => `("," ws ${p})?`)].join(" ");
    } else {
      // No required property: whichever optional property comes first has no leading comma.
      const firsts = optional.map((p, i) =>
        [p, ...optional.slice(i + 1).map((q) => `("," ws ${q})?`)].join(" "),
      );
      body = `(${firsts.join(" | ")})?`;
    }
    return this.rule([...path].pop() ?? "object", `"{" ws ${body} "}"`);
  }

  private array(schema: Schema, path: string[]): string {
    if (schema.uniqueItems === true)
      this.fail(path, "uniqueItems", "uniqueness cannot be expressed in a grammar.");
    const min = this.count(schema, "minItems", path) ?? 0;
    const max = this.count(schema, "maxItems", path);
    if (max !== undefined && max < min) this.fail(path, "maxItems", "maxItems < minItems.");
    const prefix = (schema.prefixItems ?? []) as JsonSchema[];
    if (!Array.isArray(prefix)) this.fail(path, "prefixItems", "not an array.");
    const items = schema.items as JsonSchema | undefined;
    if (Array.isArray(items)) this.fail(path, "items", "tuple items (draft-07 arrays); use prefixItems.");
    const item = items === false ? undefined : this.convert(items, [...path, "items"]);
    if (prefix.length > 0) {
      // Every prefix item is generated, then extra items within the count bounds.
      if (max !== undefined && max < prefix.length)
        this.fail(path, "maxItems", "maxItems below the number of prefixItems.");
      const head = prefix
        .map((p, i) => this.convert(p, [...path, "prefixItems", String(i)]))
        .join(' "," ws ');
      const extraMin = Math.max(0, min - prefix.length);
      const extraMax = max === undefined ? undefined : max - prefix.length;
      if (!item && extraMin > 0) this.fail(path, "minItems", "more items required than prefixItems allows.");
      const extra = !item || extraMax === 0 ? "" : ` ("," ws ${item})${repeat(extraMin, extraMax)}`;
      return this.rule("tuple", `"[" ws ${head}${extra} "]"`);
    }
    if (!item || max === 0) {
      if (min > 0) this.fail(path, "minItems", "items are required but items is false.");
      return '"[" ws "]"';
    }
    const rest =
      max === 1
        ? ""
        : ` ("," ws ${item})${repeat(Math.max(0, min - 1), max === undefined ? undefined : max - 1)}`;
    const body = min === 0 ? `"[" ws (${item}${rest})? "]"` : `"[" ws ${item}${rest} "]"`;
    return this.rule([...path].pop() ?? "array", body);
  }
}

function repeat(min: number, max: number | undefined): string {
  return max === undefined ? `{${min},}` : `{${min},${max}}`;
}

/** Integers in [lo, hi], negative ones included, as one expression; undefined if none. */
function signedRange(lo: number, hi: number): string | undefined {
  if (lo > hi) return undefined;
  const parts: string[] = [];
  if (lo < 0) {
    const magnitudes = uintRange(Math.max(1, -hi), -lo);
    if (magnitudes) parts.push(`"-" (${magnitudes})`);
  }
  if (hi >= 0) {
    const positives = uintRange(Math.max(0, lo), hi);
    if (positives) parts.push(positives);
  }
  return parts.length === 0 ? undefined : parts.map((p) => `(${p})`).join(" | ");
}

function hasType(value: unknown, type: string): boolean {
  if (type === "integer") return Number.isInteger(value);
  if (type === "null") return value === null;
  if (type === "array") return Array.isArray(value);
  if (type === "object") return typeof value === "object" && value !== null && !Array.isArray(value);
  return typeof value === type;
}

/** Whether oneOf branches provably never both match: each has distinct explicit types or const/enum values. */
function disjoint(branches: JsonSchema[]): boolean {
  const signatures = branches.map((b) => {
    if (typeof b !== "object" || b === null) return undefined;
    const values = b.const !== undefined ? [b.const] : Array.isArray(b.enum) ? b.enum : undefined;
    if (values) return { values: values.map((v) => JSON.stringify(v)) };
    if (b.type === undefined) return undefined;
    const types = (Array.isArray(b.type) ? b.type : [b.type]) as string[];
    return { types: types.flatMap((t) => (t === "number" ? ["number", "integer"] : [t])) };
  });
  if (signatures.some((s) => s === undefined)) return false;
  for (let i = 0; i < signatures.length; i++) {
    for (let j = i + 1; j < signatures.length; j++) {
      const [a, b] = [signatures[i], signatures[j]];
      if (a?.types && b?.types && a.types.some((t) => b.types?.includes(t))) return false;
      if (a?.values && b?.values && a.values.some((v) => b.values?.includes(v))) return false;
      if ((a?.values && b?.types) || (a?.types && b?.values)) return false;
    }
  }
  return true;
}
