import { uintRange } from "./gbnf.js";

/** GBNF for string formats, between the quotes; `fmt-*` rules they use are in FORMAT_RULES. */
export const FORMATS: Record<string, string> = {
  // Days stop at 28 so every generated date exists, whatever the month.
  date: '[0-9]{4} "-" ("0" [1-9] | "1" [0-2]) "-" ("0" [1-9] | "1" [0-9] | "2" [0-8])',
  time: '([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,3})? ("Z" | [+-] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9])',
  "date-time": 'fmt-date "T" fmt-time',
  uuid: '[0-9a-f]{8} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{12}',
  email: '[a-z0-9]{1,20} ("." [a-z0-9]{1,20})? "@" [a-z0-9]{1,20} "." [a-z]{2,6}',
  ipv4: `fmt-octet ("." fmt-octet){3}`,
};

export const FORMAT_RULES: Record<string, string> = {
  "fmt-date": FORMATS.date,
  "fmt-time": FORMATS.time,
  "fmt-octet": uintRange(0, 255) ?? "",
};

type Fail = (keyword: string, why: string) => never;

/** The GBNF for a `number` or `integer` with bounds, or the plain JSON rule without. */
export function numberExpression(schema: Record<string, unknown>, type: string, fail: Fail): string {
  const bound = (keyword: string): number | undefined => {
    const value = schema[keyword];
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isFinite(value))
      fail(keyword, "not a finite number (draft-04 boolean exclusive bounds are not supported).");
    return value;
  };
  const [min, max, exMin, exMax] = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"].map(bound);
  const bounded = [min, max, exMin, exMax].some((b) => b !== undefined);
  if (!bounded) return type === "integer" ? "json-int" : "json-number";
  const lo = Math.max(min ?? Number.NEGATIVE_INFINITY, exMin ?? Number.NEGATIVE_INFINITY);
  const hi = Math.min(max ?? Number.POSITIVE_INFINITY, exMax ?? Number.POSITIVE_INFINITY);
  // Integers in range; exclusive bounds step past an integral bound.
  const intLo =
    exMin !== undefined && exMin >= (min ?? Number.NEGATIVE_INFINITY) ? Math.floor(exMin) + 1 : Math.ceil(lo);
  const intHi =
    exMax !== undefined && exMax <= (max ?? Number.POSITIVE_INFINITY) ? Math.ceil(exMax) - 1 : Math.floor(hi);
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
    fail(keyword, "no integer, nor number with a whole unit interval, fits the bounds.");
  return present.map((p) => `(${p})`).join(" | ");
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
