import { InvalidRequestError } from "../provider/errors.js";
import type { CacheMode } from "../provider/types.js";

/**
 * The request header that steers the answer caches for one request: `prefer` (use the FAQ cache even when
 * the server has it off) or `bypass` (read and write no cache). The same name carries `hit`/`miss` back.
 */
export const CACHE_HEADER = "x-edgellm-cache";

/** The request's cache mode, or undefined when it sends none; InvalidRequestError (400) for another value. */
export function cacheModeOf(headers: Record<string, unknown>): CacheMode | undefined {
  const header = headers[CACHE_HEADER];
  if (header === undefined) return undefined;
  const value = typeof header === "string" ? header.trim().toLowerCase() : "";
  if (value === "prefer" || value === "bypass") return value;
  throw new InvalidRequestError(`The ${CACHE_HEADER} request header must be prefer or bypass.`);
}

/** The request header that overrides `--context-overflow` for one request: `error` or `truncate`. */
export const CONTEXT_OVERFLOW_HEADER = "x-edgellm-context-overflow";

/** The request's context-overflow policy, or undefined when it sends none; 400 for another value. */
export function contextOverflowOf(headers: Record<string, unknown>): "error" | "truncate" | undefined {
  const header = headers[CONTEXT_OVERFLOW_HEADER];
  if (header === undefined) return undefined;
  const value = typeof header === "string" ? header.trim().toLowerCase() : "";
  if (value === "error" || value === "truncate") return value;
  throw new InvalidRequestError(`The ${CONTEXT_OVERFLOW_HEADER} request header must be error or truncate.`);
}
