import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { ERROR_CODES, isErrorCode, statusAndType } from "../../src/provider/error-codes.js";
import {
  EdgeError,
  InvalidRequestError,
  RateLimitExceededError,
  UpstreamError,
} from "../../src/provider/errors.js";
import { API_DOC, currentSection, errorTable } from "../helpers/error-table.js";

// Runs from dist/test/provider/; the sources are three levels up.
const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../src");
const REGISTRY = path.join(SRC, "provider", "error-codes.ts");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith(".ts") ? [full] : [];
  });
}

/** The rows of docs/api.md's error table as code -> status cell. */
function tableRows(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of currentSection(readFileSync(API_DOC, "utf8")).split("\n")) {
    const cells = line.split(" | ");
    const code = /^`([a-z_]+)`$/.exec(cells[2] ?? "")?.[1];
    if (code) rows.set(code, cells[1]);
  }
  return rows;
}

/** Index just past the bracket that closes the one at `open`, skipping strings, templates and comments. */
function closing(text: string, open: number): number {
  const stack: string[] = [];
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    const inTemplate = stack.at(-1) === "`";
    if (inTemplate) {
      if (c === "\\") i++;
      else if (c === "`") {
        stack.pop();
        if (stack.length === 0) return i + 1;
      } else if (c === "$" && text[i + 1] === "{") {
        stack.push("{");
        i++;
      }
      continue;
    }
    if (c === '"' || c === "'") i = skipString(text, i);
    else if (c === "/" && text[i + 1] === "/") {
      const eol = text.indexOf("\n", i);
      i = eol === -1 ? text.length : eol;
    } else if (c === "`") stack.push("`");
    else if ("({[".includes(c)) stack.push(c);
    else if (")}]".includes(c)) {
      stack.pop();
      if (stack.length === 0) return i + 1;
    }
  }
  return text.length;
}

const CODE_LIKE = /"([a-z]+(?:_[a-z]+)+)"/g;

/** The top-level arguments of the call whose "(" is at `open`. */
function callArguments(text: string, open: number): string[] {
  const end = closing(text, open) - 1;
  const args: string[] = [];
  let start = open + 1;
  for (let i = start; i < end; i++) {
    const c = text[i];
    if (c === '"' || c === "'") i = skipString(text, i);
    else if ("({[`".includes(c)) i = closing(text, i) - 1;
    else if (c === ",") {
      args.push(text.slice(start, i));
      start = i + 1;
    }
  }
  args.push(text.slice(start, end));
  return args;
}

function skipString(text: string, at: number): number {
  let i = at + 1;
  for (; i < text.length && text[i] !== text[at]; i++) if (text[i] === "\\") i++;
  return i;
}

/**
 * Error-code-like string literals ("snake_case") where a code goes: in the arguments of `new ...Error(`
 * (but InvalidRequestError's second, the wire parameter, which may be snake_case too), as the value of a
 * `code` property or parameter (unions included), or in a type named `...Code` or `...Failure`.
 */
export function codeLiterals(text: string): string[] {
  const found: string[] = [];
  const literals = (part: string) => found.push(...[...part.matchAll(CODE_LIKE)].map((m) => m[1]));
  for (const m of text.matchAll(/\bnew ([A-Z]\w*Error)\(/g)) {
    const args = callArguments(text, (m.index ?? 0) + m[0].length - 1);
    args.forEach((arg, i) => {
      // Their second argument is the wire parameter, not a code.
      if (!(["InvalidRequestError", "ResponseNotFoundError"].includes(m[1]) && i === 1)) literals(arg);
    });
  }
  for (const m of text.matchAll(/\bcode\??:\s*((?:"[a-z_]+"\s*\|\s*)*"[a-z_]+")/g)) literals(m[1]);
  for (const m of text.matchAll(/\btype \w*(?:Code|Failure)\s*=([^;]*);/g)) literals(m[1]);
  return found;
}

const INGESTION = [path.join(SRC, "kb/extract/"), path.join(SRC, "kb/ingest-")];

test("every code passed to an error in src/ is registered", () => {
  const unregistered: string[] = [];
  let seen = 0;
  for (const file of sourceFiles(SRC)) {
    if (file === REGISTRY) continue;
    // Ingestion's codes are why one document failed: they stand in a vector store file's `last_error` (mapped
    // to OpenAI's three codes in src/openai/to-vector-store.ts), never as an HTTP error's code.
    if (INGESTION.some((dir) => file.startsWith(dir))) continue;
    for (const code of codeLiterals(readFileSync(file, "utf8"))) {
      seen++;
      if (!isErrorCode(code)) unregistered.push(`${path.relative(SRC, file)}: ${code}`);
    }
  }
  assert.deepEqual(unregistered, []);
  // The scan finds codes at all (of validation.ts, http-errors.ts, limits.ts, upstream-errors.ts...).
  assert.ok(seen >= 15, `only ${seen} code literals found`);
});

test("the scan finds a new code wherever one would be written", () => {
  const source = `
    throw new InvalidRequestError(\`Bad (very, \${x ? \`a\` : "b"}\`, "tool_choice", "brand_new_one");
    throw new UpstreamError(name, "third_new_one", { summary: "(", retryable: f(a, "b") });
    return { param, code: "second_new_one", message };
    if (issue.code === "too_big") return;
    constructor(message: string, code: "fourth_new_one" | "fifth_new_one") {}
    export type ProblemCode = "sixth_new_one" | "invalid_value";
    const notACode = "text_completion";`;
  assert.deepEqual(codeLiterals(source).sort(), [
    "brand_new_one",
    "fifth_new_one",
    "fourth_new_one",
    "invalid_value",
    "second_new_one",
    "sixth_new_one",
    "third_new_one",
  ]);
});

test("docs/api.md's error table lists every registered code with its status, and no other", () => {
  const rows = tableRows();
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    assert.ok(rows.has(code), `docs/api.md lacks ${code}`);
    assert.ok(
      rows.get(code)?.startsWith(String(info.status)),
      `docs/api.md gives ${code} status ${rows.get(code)}`,
    );
  }
  const unknown = [...rows.keys()].filter((code) => !isErrorCode(code));
  assert.deepEqual(unknown, []);
});

test("docs/api.md's error table is the one generated from the registry", () => {
  assert.equal(
    currentSection(readFileSync(API_DOC, "utf8")),
    errorTable(),
    "run `node dist/test/helpers/error-table.js --write` after a build",
  );
});

test("an error's status and type come from the registry, whatever it asks for", () => {
  const upstream = (failure: "upstream_rate_limited" | "upstream_bad_request" | "upstream_timeout") =>
    new UpstreamError("cloud", failure, { summary: "x", retryable: false });
  assert.deepEqual(pick(upstream("upstream_rate_limited")), [429, "rate_limit_error"]);
  assert.deepEqual(pick(upstream("upstream_bad_request")), [400, "invalid_request_error"]);
  assert.deepEqual(pick(upstream("upstream_timeout")), [504, "server_error"]);
  assert.deepEqual(pick(new InvalidRequestError("x", null, "unsupported_schema")), [
    400,
    "invalid_request_error",
  ]);
  assert.deepEqual(pick(new RateLimitExceededError("x", "tokens", 1)), [429, "tokens"]);
  // A fixed status or type cannot be overridden; a "4xx" code takes a client error status only.
  assert.deepEqual(pick(new EdgeError("x", { code: "queue_full", status: 500, type: "server_error" })), [
    429,
    "rate_limit_error",
  ]);
  assert.deepEqual(statusAndType("invalid_request", { status: 416 }), {
    status: 416,
    type: "invalid_request_error",
  });
  assert.deepEqual(statusAndType("invalid_request", { status: 500 }), {
    status: 400,
    type: "invalid_request_error",
  });
  assert.deepEqual(statusAndType("rate_limit_exceeded", { type: "server_error" }), {
    status: 429,
    type: "requests",
  });
});

function pick(error: EdgeError): [number, string] {
  return [error.status, error.type];
}
