import type { ErrorEnvelope, ErrorType } from "./wire-types.js";

/**
 * Our error (status, stable code, message) in Anthropic's shape, `{"type":"error","error":{type,message}}`,
 * with the status Anthropic sends that type with. Busy and not-ready states (a full queue, loading,
 * draining, an upstream unavailable) are Anthropic's 529 `overloaded_error`, which its SDKs retry; a key's
 * own limits stay 429 `rate_limit_error`; any other server fault is 500 `api_error`.
 */
export function toAnthropicError(
  status: number,
  code: string | null,
  message: string,
): { status: number; body: ErrorEnvelope } {
  const [type, wireStatus] = typeOf(status, code);
  return { status: wireStatus, body: { type: "error", error: { type, message, code } } };
}

const OVERLOADED = new Set([
  "queue_full",
  "queue_timeout",
  "model_loading",
  "engine_restarting",
  "shutting_down",
]);

function typeOf(status: number, code: string | null): [ErrorType, number] {
  if (code !== null && OVERLOADED.has(code)) return ["overloaded_error", 529];
  if (status === 401) return ["authentication_error", 401];
  if (status === 403) return ["permission_error", 403];
  if (status === 404) return ["not_found_error", 404];
  if (status === 413) return ["request_too_large", 413];
  if (status === 429) return ["rate_limit_error", 429];
  if (status === 503) return ["overloaded_error", 529];
  if (status >= 500) return ["api_error", 500];
  // 400, and the HTTP layer's 405, 408, 414, 431: the request is at fault, with its own status kept.
  return ["invalid_request_error", status];
}
