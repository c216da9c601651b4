import OpenAI from "openai";
import { ContextOverflowError, UpstreamError, type UpstreamFailure } from "../provider/errors.js";
import { sanitizeUpstreamText } from "./sanitize.js";

/** One of an attempt's own timers fired; `toUpstreamError` makes it an `upstream_timeout`. */
export class AttemptTimeout extends Error {
  constructor(
    readonly phase: "connect" | "first-byte" | "idle",
    readonly ms: number,
  ) {
    super(`${phase} timeout after ${ms} ms`);
  }

  get summary(): string {
    const after = seconds(this.ms);
    if (this.phase === "connect") return `timeout (no connection after ${after})`;
    if (this.phase === "first-byte") return `timeout (first byte after ${after})`;
    return `timeout (no chunk for ${after})`;
  }
}

/** The upstream broke the protocol (e.g. ended the stream without a finish reason); says so in our words. */
export class UpstreamProtocolError extends Error {}

/**
 * Maps anything the SDK or the network throws to a typed UpstreamError. The only place upstream text
 * enters our errors, so the only place it is sanitized (with the upstream's own key masked).
 */
export function toUpstreamError(
  upstream: string,
  error: unknown,
  opts: { midStream?: boolean; secrets?: readonly (string | undefined)[] } = {},
): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const midStream = opts.midStream ?? false;
  const fail = (
    kind: UpstreamFailure,
    summary: string,
    retryable: boolean,
    said?: string,
    upstreamStatus?: number,
    retryAfterSeconds?: number,
  ) => {
    const detail = said ? sanitizeUpstreamText(said, opts.secrets) : undefined;
    return new UpstreamError(upstream, midStream ? "upstream_stream_broken" : kind, {
      summary,
      detail: detail || undefined,
      midStream,
      retryable: retryable && !midStream,
      upstreamStatus,
      retryAfterSeconds,
    });
  };
  if (error instanceof AttemptTimeout) return fail("upstream_timeout", error.summary, true);
  if (error instanceof UpstreamProtocolError) return fail("upstream_stream_broken", error.message, true);
  if (error instanceof OpenAI.APIConnectionTimeoutError) return fail("upstream_timeout", "timeout", true);
  if (error instanceof OpenAI.APIConnectionError) {
    const cause = (error.cause as { cause?: { code?: string }; code?: string } | undefined) ?? {};
    const code = cause.code ?? cause.cause?.code;
    const safeCode = code && /^[A-Z_]{2,32}$/.test(code) ? ` (${code})` : "";
    return fail("upstream_unreachable", `connection error${safeCode}`, true);
  }
  if (error instanceof OpenAI.APIError) {
    const status = error.status;
    // The SDK prefixes its message with the status; the rest is the upstream's own words.
    const said = error.message.replace(/^\d{3}\s*/, "");
    if (status === undefined) return fail("upstream_stream_broken", "error event in the stream", true, said);
    const summary = `HTTP ${status}`;
    if (status === 429)
      return fail("upstream_rate_limited", summary, true, said, status, retryAfter(error.headers));
    if (status === 401 || status === 403) return fail("upstream_auth", summary, false, said, status);
    if (status >= 500) return fail("upstream_server_error", summary, true, said, status);
    return fail("upstream_bad_request", summary, false, said, status);
  }
  const message = error instanceof Error ? error.message : String(error);
  return fail("upstream_stream_broken", "unexpected error", true, message);
}

/** How upstreams word an overflow: OpenAI and vLLM, llama-server, and others' "context window/size". */
const OVERFLOW_TEXT =
  /maximum context length|context (?:window|size|length) (?:is )?exceeded|exceeds? the (?:available )?context|context_length_exceeded/i;

/**
 * An upstream's 400 that says the prompt does not fit its context (OpenAI's and vLLM's
 * `context_length_exceeded` code or wording, llama-server's `exceed_context_size_error`), as our own
 * ContextOverflowError: clients recognise it by code and OpenAI's wording whichever route answered.
 * Undefined for any other failure.
 */
export function upstreamContextOverflow(
  upstream: string,
  error: unknown,
  secrets: readonly (string | undefined)[] = [],
): ContextOverflowError | undefined {
  if (!(error instanceof OpenAI.APIError) || (error.status !== 400 && error.status !== 413)) return undefined;
  const body = (error.error ?? {}) as { n_ctx?: unknown; n_prompt_tokens?: unknown };
  const said = error.message.replace(/^\d{3}\s*/, "");
  const recognised =
    error.code === "context_length_exceeded" ||
    error.type === "exceed_context_size_error" ||
    OVERFLOW_TEXT.test(said);
  if (!recognised) return undefined;
  const asked =
    typeof body.n_prompt_tokens === "number" ? ` However, you requested ${body.n_prompt_tokens} tokens.` : "";
  const detail = sanitizeUpstreamText(said, secrets);
  return new ContextOverflowError((name) => {
    // Upstreams that already use OpenAI's wording (OpenAI, vLLM) are quoted as they are.
    if (/maximum context length/i.test(detail)) return `upstream '${upstream}': ${detail}`;
    const limit = typeof body.n_ctx === "number" ? ` is ${body.n_ctx} tokens.` : " was exceeded.";
    return (
      `This model's maximum context length${limit}${asked} Please reduce the length of the ` +
      `${name("prompt")} or ${name("maxTokens")}. (upstream '${upstream}' said: ${detail})`
    );
  });
}

/**
 * An upstream's wait before retrying, in whole seconds (at least 1, at most an hour): OpenAI's
 * `retry-after-ms`, or `Retry-After` as seconds or an HTTP date. Undefined when it sent neither.
 */
export function retryAfter(headers: Headers | undefined, now = Date.now()): number | undefined {
  const ms = Number(headers?.get("retry-after-ms") ?? Number.NaN);
  const value = headers?.get("retry-after")?.trim();
  let wait = Number.isFinite(ms) && ms >= 0 ? ms / 1000 : undefined;
  if (wait === undefined && value) {
    wait = /^\d+(\.\d+)?$/.test(value) ? Number(value) : (Date.parse(value) - now) / 1000;
    if (!Number.isFinite(wait)) wait = undefined;
  }
  return wait === undefined ? undefined : Math.min(3600, Math.max(1, Math.ceil(wait)));
}

/** 10000 -> "10 s", 200 -> "0.2 s". */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(ms < 1000 ? 2 : 1))} s`;
}
