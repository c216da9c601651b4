import type { z } from "zod";
import { clip, InvalidRequestError } from "../provider/errors.js";

/**
 * Schema validation of a request body, reported the way OpenAI does: the first problem, with `param`
 * naming the field and `code` saying what kind of problem it is:
 * - `missing_required_parameter`: the field is absent;
 * - `invalid_type`: present, but of the wrong JSON type (a string for a number, a list for an object);
 * - `invalid_value`: the right type, but out of range, not one of the allowed values, or too large.
 */

type Issue = z.core.$ZodIssue;
type ProblemCode = "missing_required_parameter" | "invalid_type" | "invalid_value";

export function validate<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new InvalidRequestError("The request body must be a JSON object.", null, "invalid_json");
  }
  const result = schema.safeParse(body, { error: issueMessage });
  if (result.success) return result.data;
  const problem = describeIssue(result.error.issues[0], body, []);
  throw new InvalidRequestError(problem.message, problem.param, problem.code);
}

/** Messages in our words for zod's built-in checks; a schema's own message wins over these. */
function issueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === "too_big" || issue.code === "too_small") {
    const big = issue.code === "too_big";
    const bound = big ? issue.maximum : issue.minimum;
    const word = big
      ? issue.inclusive
        ? "at most"
        : "less than"
      : issue.inclusive
        ? "at least"
        : "greater than";
    if (issue.origin === "array") return `must have ${word} ${bound} item${bound === 1 ? "" : "s"}`;
    if (issue.origin === "string") return `must be ${word} ${bound} characters long`;
    return `must be ${word} ${bound}`;
  }
  if (issue.code === "invalid_value") return oneOf(issue.values);
  // A discriminated union whose `type` matches none of its options.
  if (issue.code === "invalid_union" && Array.isArray(issue.options) && issue.options.length > 0)
    return oneOf(issue.options);
  return undefined;
}

function oneOf(values: readonly unknown[]): string {
  const quoted = values.map((v) => JSON.stringify(v));
  return quoted.length === 1 ? `must be ${quoted[0]}` : `must be one of ${quoted.join(", ")}`;
}

interface Problem {
  param: string;
  code: ProblemCode;
  message: string;
}

function describeIssue(issue: Issue, body: unknown, base: readonly PropertyKey[]): Problem {
  const path = [...base, ...issue.path];
  const param = formatPath(path);
  const found = lookup(body, path);
  if (!found.present)
    return { param, code: "missing_required_parameter", message: `Missing required parameter: '${param}'.` };
  const { value } = found;
  if (issue.code === "invalid_union" && issue.errors.length > 0) {
    // Each branch of a union failed; the one that got past the value's type is the one worth reporting.
    const closest = closestBranch(issue.errors, value);
    if (closest) return describeIssue(closest, body, path);
    const expected = [...new Set(issue.errors.map((branch) => expectedType(branch[0])))];
    return typeProblem(param, expected.join(" or "), value);
  }
  if (isTypeMismatch(issue, value)) return typeProblem(param, expectedType(issue), value);
  const shown =
    typeof value === "number" ||
    typeof value === "boolean" ||
    (typeof value === "string" && ["invalid_value", "invalid_format", "invalid_union"].includes(issue.code));
  const got = shown ? ` (got ${JSON.stringify(typeof value === "string" ? clip(value) : value)})` : "";
  return {
    param,
    code: "invalid_value",
    message: `Invalid value for '${param}': ${issue.message}${got}.`,
  };
}

function typeProblem(param: string, expected: string, value: unknown): Problem {
  const got = expected === "an integer" && typeof value === "number" ? String(value) : jsonType(value);
  return {
    param,
    code: "invalid_type",
    message: `Invalid type for '${param}': expected ${expected}, got ${got}.`,
  };
}

/**
 * The branch whose first issue lies deepest inside the value, skipping branches that only say the whole
 * value has another type; undefined when every branch says just that.
 */
function closestBranch(branches: readonly Issue[][], value: unknown): Issue | undefined {
  let best: Issue | undefined;
  for (const [first] of branches) {
    if (!first || (first.path.length === 0 && isTypeMismatch(first, value))) continue;
    if (!best || first.path.length > best.path.length) best = first;
  }
  return best;
}

/** A wrong JSON type, including a value of the wrong type for an enum, a literal or a discriminator. */
function isTypeMismatch(issue: Issue, value: unknown): boolean {
  if (issue.code === "invalid_type") return true;
  const allowed: readonly unknown[] | undefined =
    issue.code === "invalid_value" ? issue.values : "options" in issue ? issue.options : undefined;
  return allowed !== undefined && allowed.length > 0 && !allowed.some((v) => jsonType(v) === jsonType(value));
}

function expectedType(issue: Issue | undefined): string {
  if (issue?.code === "invalid_type") return issue.expected === "int" ? "an integer" : issue.expected;
  if (issue?.code === "invalid_value" && issue.values.length > 0) return jsonType(issue.values[0]);
  if (issue && "options" in issue && issue.options?.length) return jsonType(issue.options[0]);
  return "another type";
}

function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** The value at `path` in the body, if the client sent one there. */
function lookup(
  body: unknown,
  path: readonly PropertyKey[],
): { present: false } | { present: true; value: unknown } {
  let value = body;
  for (const key of path) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key)) return { present: false };
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value === undefined ? { present: false } : { present: true, value };
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, i) => (typeof part === "number" ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`))
    .join("");
}
