// JSON -> "path: value" lines, one block for each top-level member (an entry of the top-level object, or
// a record of the top-level array), so a record found alone says which fields its values are. Arrays of
// plain values stay on one line ("tags: a, b, c"). A file of one JSON value a line (JSON Lines) is read as
// an array of them.
import { ExtractError, type Section } from "./types.js";

export function extractJson(text: string): Section[] {
  const value = parseJson(text);
  const blocks: { kind: "text"; text: string }[] = [];
  const add = (lines: string[]) => {
    if (lines.length > 0) blocks.push({ kind: "text", text: lines.join("\n") });
  };
  if (Array.isArray(value)) {
    // A top-level array is a list of records: each is its own block, its fields named from the record down.
    for (const item of value) add(flatten(item, ""));
  } else if (isObject(value)) {
    for (const [key, item] of Object.entries(value)) add(flatten(item, key));
  } else {
    add(flatten(value, ""));
  }
  return blocks.length > 0 ? [{ headingPath: [], blocks }] : [];
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const lines = text.split("\n").filter((line) => line.trim() !== "");
    if (lines.length > 1) {
      try {
        return lines.map((line) => JSON.parse(line));
      } catch {
        // Not JSON Lines either: report the first error.
      }
    }
    throw new ExtractError("corrupt_file", `The file is not valid JSON: ${(error as Error).message}`);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const isPlain = (value: unknown): boolean => value === null || typeof value !== "object";

function scalar(value: unknown): string {
  return typeof value === "string" ? value.replace(/\s+/g, " ").trim() : String(value);
}

/** Leaves of `value` as "path: value" lines; an array of plain values as one line. Empty values give no line. */
function flatten(value: unknown, path: string, lines: string[] = []): string[] {
  if (Array.isArray(value)) {
    if (value.every(isPlain)) {
      const items = value.map(scalar).filter((s) => s !== "");
      if (items.length > 0) lines.push(`${path}: ${items.join(", ")}`);
    } else {
      value.forEach((item, i) => {
        flatten(item, `${path}[${i}]`, lines);
      });
    }
  } else if (isObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      const name = /^[\p{L}\p{N}_$-]+$/u.test(key) ? key : JSON.stringify(key);
      flatten(item, path === "" ? name : `${path}.${name}`, lines);
    }
  } else {
    const text = scalar(value);
    if (text !== "") lines.push(path === "" ? text : `${path}: ${text}`);
  }
  return lines;
}
