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
