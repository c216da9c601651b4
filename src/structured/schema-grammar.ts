import type { FieldPath, SchemaField } from "../provider/fields.js";
import type { JsonSchema } from "../provider/types.js";
import { arrayGrammar, countBounds, type GrammarBuilder, objectGrammar } from "./composite-grammar.js";
import { JSON_RULES, literal, literalTree } from "./gbnf.js";
import { checkCompilable } from "./grammar-problems.js";
import { checkSchemaShape, MAX_ALTERNATIVES, MAX_ENUM_CHARS, unsupported } from "./limits.js";
import { PatternError, PatternLimitError, patternToGbnf } from "./regex-grammar.js";
import { FORMAT_RULES, FORMATS, numberExpression } from "./scalar-grammar.js";

/**
 * JSON Schema -> GBNF, by an explicit allow-list. Every keyword is either enforced by the grammar or
 * refused with a 400 naming it; none is ignored. The grammar may generate a subset of the valid
 * documents (it never adds properties a schema with `properties` does not declare, and lists declared
 * properties in order), never a document outside the schema. Every limit of limits.ts is enforced here,
 * and the finished grammar is checked the way llama.cpp will compile it (gbnf-check.ts), so a schema
 * either becomes a grammar llama.cpp compiles quickly or is refused with a 400.
 *
 * Why not node-llama-cpp's GbnfJsonSchema: it makes every property required and has no numeric bounds
 * nor patterns, so optional properties, `minimum`/`maximum` and `pattern` would need refusing.
 */

type Schema = Record<string, unknown>;

/** Keywords with no effect on validity. */
const ANNOTATIONS = new Set([
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
]);
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
const NAME = /^[a-zA-Z0-9-]+$/;

export class SchemaGrammar implements GrammarBuilder {
  private readonly rules = new Map<string, string>();
  private readonly names = new Map<string, string>();
  private readonly refs = new Map<string, string>();
  /** Where each rule comes from, as an error's field; for $ref rules, the reference too. */
  private readonly origins = new Map<string, { field: FieldPath; ref?: string }>();
  /** Referenced definitions not yet converted: converted after the schema, so references never recurse. */
  private readonly pending: { name: string; target: unknown; path: string[] }[] = [];
  private counter = 0;

  private constructor(
    private readonly root: JsonSchema,
    private readonly field: SchemaField,
    private readonly namespace: string,
  ) {}

  /**
   * The rule for `schema` and every rule it needs, as GBNF text with `rootName` as the schema's rule;
   * `field` says where the schema sits in the request, e.g. "format.schema".
   * Throws InvalidRequestError (code "unsupported_schema") naming the first keyword it cannot enforce.
   */
  static rules(
    schema: JsonSchema,
    field: SchemaField,
    rootName = "root",
    namespace = "",
  ): { rootExpression: string; text: string } {
    checkSchemaShape(schema, field);
    const builder = new SchemaGrammar(schema, field, namespace);
    const rootExpression = builder.convert(schema, []);
    // The list grows while it is walked: definitions refer to further definitions.
    for (const next of builder.pending) {
      builder.rules.set(next.name, builder.convert(next.target as JsonSchema, next.path));
    }
    const text = builder.render(rootName, rootExpression);
    checkCompilable(text, rootName, (rule) => builder.origins.get(rule), field);
    return { rootExpression, text };
  }

  /** The rules reachable from the root, each after the first rule that refers to it (see gbnf-check.ts). */
  private render(rootName: string, rootExpression: string): string {
    const lines = [`${rootName} ::= ${rootExpression}`];
    const seen = new Set([rootName]);
    for (let i = 0; i < lines.length; i++) {
      for (const name of referencedNames(lines[i])) {
        if (seen.has(name)) continue;
        const body =
          this.rules.get(name) ??
          (Object.hasOwn(JSON_RULES, name) ? JSON_RULES[name] : undefined) ??
          (Object.hasOwn(FORMAT_RULES, name) ? FORMAT_RULES[name] : undefined);
        if (body === undefined) continue;
        seen.add(name);
        lines.push(`${name} ::= ${body}`);
      }
    }
    return `${lines.join("\n")}\n`;
  }

  private where(path: string[], keyword?: string): FieldPath {
    return [this.field, ...path, ...(keyword === undefined ? [] : [keyword])].join(".") as FieldPath;
  }

  fail(path: string[], keyword: string, why: string): never {
    const where = this.where(path, keyword);
    throw unsupported(
      where,
      (name) =>
        `The JSON schema keyword '${keyword}' at '${name(where)}' cannot be enforced by constrained decoding: ${why}`,
    );
  }

  /** A named rule for `body`, shared with any identical one. */
  rule(hint: string, body: string, path: string[]): string {
    const existing = this.names.get(body);
    if (existing) return existing;
    const slug =
      hint
        .replace(/[^a-zA-Z0-9]+/g, "-")
        .replace(/^-|-$/g, "")
        .slice(0, 24) || "r";
    const name = `${this.namespace}${slug}-${this.counter++}`;
    this.names.set(body, name);
    this.rules.set(name, body);
    this.origins.set(name, { field: this.where(path) });
    return name;
  }

  /**
   * `expression` as one rule reference, for use under a repetition: llama.cpp copies what it repeats,
   * and refuses a repeated group whose rules times the repetitions exceed 2000.
   */
  atomic(expression: string, hint: string, path: string[]): string {
    return NAME.test(expression) ? expression : this.rule(hint, expression, path);
  }

  convert(schema: JsonSchema | undefined, path: string[]): string {
    if (schema === undefined || schema === true) return "json-value";
    if (schema === false) this.fail(path, "false", "a schema that accepts nothing.");
    if (typeof schema !== "object" || schema === null || Array.isArray(schema))
      this.fail(path, "schema", "a schema must be an object or a boolean.");
    for (const key of Object.keys(schema)) {
      if (!ALLOWED.has(key)) this.fail(path, key, "this keyword is not supported.");
    }
    const keys = Object.keys(schema).filter(
      (k) => !ANNOTATIONS.has(k) && k !== "$defs" && k !== "definitions",
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
    if (list.length === 0) this.fail(path, "type", "an empty list of types.");
    for (const t of list)
      if (typeof t !== "string" || !TYPES.includes(t))
        this.fail(path, "type", `unknown type ${JSON.stringify(t).slice(0, 40)}.`);
    return [...new Set(list as string[])].filter((t) => !(t === "integer" && list.includes("number")));
  }

  private ref(ref: unknown, path: string[]): string {
    if (typeof ref !== "string") this.fail(path, "$ref", "not a string.");
    const cached = this.refs.get(ref);
    if (cached) return cached;
    const match = /^#(?:\/(\$defs|definitions)\/([^/]+))?$/.exec(ref);
    const defs = match?.[1] ? (this.root as Schema)[match[1]] : undefined;
    const target = !match
      ? undefined
      : !match[1]
        ? this.root
        : typeof defs === "object" && defs !== null && Object.hasOwn(defs, match[2])
          ? (defs as Schema)[match[2]]
          : undefined;
    if (target === undefined)
      this.fail(
        path,
        "$ref",
        `only local references to #/$defs/<name> are supported (got ${ref.slice(0, 80)}).`,
      );
    // Named now, converted later: recursive schemas refer back to the name.
    const name = `${this.namespace}ref-${this.counter++}`;
    this.refs.set(ref, name);
    this.rules.set(name, "");
    this.origins.set(name, { field: this.where(path, "$ref"), ref });
    this.pending.push({ name, target, path: match?.[1] ? [match[1], match[2]] : [] });
    return name;
  }

  private enumeration(schema: Schema, path: string[]): string {
    const keyword = schema.const !== undefined ? "const" : "enum";
    const values = keyword === "const" ? [schema.const] : schema.enum;
    if (!Array.isArray(values) || values.length === 0) this.fail(path, keyword, "an empty enum.");
    if (values.length > MAX_ALTERNATIVES)
      this.fail(path, keyword, `${values.length} values; at most ${MAX_ALTERNATIVES} are supported.`);
    const others = Object.keys(schema).filter((k) => !ANNOTATIONS.has(k) && k !== keyword && k !== "type");
    if (others.length > 0) this.fail(path, others[0], `keywords beside ${keyword} other than type.`);
    const types = schema.type === undefined ? undefined : this.types(schema, path);
    const allowed = values.filter((v) => types === undefined || types.some((t) => hasType(v, t)));
    if (allowed.length === 0) this.fail(path, keyword, "no value matches the schema's type.");
    // JSON has no Infinity: a number literal too large for a double parses to it, and prints as null.
    if (allowed.some((v) => typeof v === "number" && !Number.isFinite(v)))
      this.fail(path, keyword, "a number too large to represent.");
    const texts = [...new Set(allowed.map((v) => JSON.stringify(v)))];
    const chars = texts.reduce((sum, l) => sum + l.length, 0);
    if (chars > MAX_ENUM_CHARS)
      this.fail(
        path,
        keyword,
        `its values take ${chars} characters; at most ${MAX_ENUM_CHARS} are supported.`,
      );
    if (texts.length === 1) return literal(texts[0]);
    return this.rule(
      keyword,
      literalTree(texts, (body) => this.rule(keyword, body, path)),
      path,
    );
  }

  private combination(schema: Schema, combinator: "anyOf" | "oneOf" | "allOf", path: string[]): string {
    const branches = schema[combinator];
    if (!Array.isArray(branches) || branches.length === 0) this.fail(path, combinator, "an empty list.");
    if (branches.length > MAX_ALTERNATIVES)
      this.fail(path, combinator, `${branches.length} branches; at most ${MAX_ALTERNATIVES} are supported.`);
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
    const converted = branches.map((b, i) => this.convert(b, [...path, combinator, String(i)]));
    return `(${[...new Set(converted)].join(" | ")})`;
  }

  private typed(schema: Schema, type: string, path: string[]): string {
    switch (type) {
      case "string":
        return this.string(schema, path);
      case "number":
      case "integer": {
        const body = numberExpression(schema, type, (keyword, why) => this.fail(path, keyword, why));
        return NAME.test(body) ? body : this.rule(`${type}-range`, body, path);
      }
      case "boolean":
        return "json-boolean";
      case "null":
        return "json-null";
      case "object":
        return objectGrammar(this, schema, path);
      default:
        return arrayGrammar(this, schema, path);
    }
  }

  private string(schema: Schema, path: string[]): string {
    const { format, pattern } = schema;
    const [min, max] = countBounds(this, schema, "minLength", "maxLength", path);
    const lengths = schema.minLength !== undefined || schema.maxLength !== undefined;
    if (format !== undefined) {
      if (typeof format !== "string" || !Object.hasOwn(FORMATS, format))
        this.fail(path, "format", `supported formats are ${Object.keys(FORMATS).join(", ")}.`);
      if (pattern !== undefined || lengths)
        this.fail(path, "format", "format combined with pattern or lengths.");
      return this.rule(`fmt-${format}`, `"\\"" ${FORMATS[format]} "\\""`, path);
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
        const group = (body: string) => this.rule(`${path.at(-1) ?? "pattern"}-group`, body, path);
        return this.rule(
          path.at(-1) ?? "pattern",
          `"\\"" ${patternToGbnf(pattern, "json-char", group)} "\\""`,
          path,
        );
      } catch (error) {
        if (error instanceof PatternLimitError) this.fail(path, "pattern", error.message);
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
    const repeat = max === undefined ? `{${min},}` : `{${min},${max}}`;
    return this.rule(
      `str-${min}-${max ?? "n"}`,
      max === 0 ? '"\\"\\""' : `"\\"" json-char${repeat} "\\""`,
      path,
    );
  }
}

/** Words of a GBNF line's body outside literals and classes: rule names, and the numbers of `{m,n}`. */
function referencedNames(line: string): string[] {
  const names: string[] = [];
  let i = line.indexOf("::=") + 3;
  while (i < line.length) {
    const c = line[i];
    if (c === '"' || c === "[") {
      const close = c === '"' ? '"' : "]";
      for (i++; i < line.length && line[i] !== close; i++) if (line[i] === "\\") i++;
      i++;
    } else if (/[a-zA-Z0-9-]/.test(c)) {
      const start = i;
      while (i < line.length && /[a-zA-Z0-9-]/.test(line[i])) i++;
      names.push(line.slice(start, i));
    } else i++;
  }
  return names;
}

function hasType(value: unknown, type: string): boolean {
  if (type === "integer") return Number.isInteger(value);
  if (type === "null") return value === null;
  if (type === "array") return Array.isArray(value);
  if (type === "object") return typeof value === "object" && value !== null && !Array.isArray(value);
  return typeof value === type;
}

/** Whether oneOf branches provably never both match: distinct explicit types, or distinct const/enum values. */
function disjoint(branches: unknown[]): boolean {
  const types = new Set<string>();
  const values = new Set<string>();
  let kinds = 0;
  for (const b of branches) {
    if (typeof b !== "object" || b === null) return false;
    const schema = b as Schema;
    const list =
      schema.const !== undefined ? [schema.const] : Array.isArray(schema.enum) ? schema.enum : undefined;
    if (list) {
      kinds |= 1;
      for (const key of new Set(list.map((v) => JSON.stringify(v)))) {
        if (values.has(key)) return false;
        values.add(key);
      }
    } else if (schema.type !== undefined) {
      kinds |= 2;
      const own = (Array.isArray(schema.type) ? schema.type : [schema.type]) as string[];
      for (const t of new Set(own.flatMap((t) => (t === "number" ? ["number", "integer"] : [t])))) {
        if (types.has(t)) return false;
        types.add(t);
      }
    } else return false;
  }
  // A value branch beside a type branch could overlap it.
  return kinds !== 3;
}
