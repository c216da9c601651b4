import type { ServingMeta } from "./types.js";

/**
 * Adds a meta part's facts to those read so far: a later value wins, except `warnings`, which add up
 * (each layer reports what it could not honour, and none may hide another's).
 */
export function mergeServingMeta(into: ServingMeta, meta: ServingMeta): ServingMeta {
  const warnings = [...(into.warnings ?? []), ...(meta.warnings ?? [])];
  Object.assign(into, meta);
  if (warnings.length > 0) into.warnings = warnings;
  return into;
}
