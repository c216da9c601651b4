import { SETTINGS } from "../config/settings.js";

/**
 * Bounds on receiving a request at all. The per-field bounds inside a body are in src/openai/limits.ts,
 * checked by the request schemas.
 */

/** Largest request body, in bytes (413 beyond). */
export const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;

/** Longest wait for a request's headers and body to arrive, in ms (408 beyond); 0 waits forever. */
export const DEFAULT_BODY_TIMEOUT_MS = SETTINGS.bodyTimeout.default * 1000;
