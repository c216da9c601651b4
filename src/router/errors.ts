import OpenAI from "openai";
import { EdgeError } from "../errors.js";
import { sanitizeUpstreamText } from "./sanitize.js";

/** What went wrong talking to an upstream, as a stable code. */
export type UpstreamFailure =
  | "upstream_unreachable"
  | "upstream_timeout"
  | "upstream_rate_limited"
  | "upstream_server_error"
  | "upstream_auth"
  | "upstream_bad_request"
  | "upstream_stream_broken"
  | "upstream_unavailable";

const STATUS: Record<UpstreamFailure, number> = {
  upstream_unreachable: 502,
  upstream_timeout: 504,
  upstream_rate_limited: 429,
  upstream_server_error: 502,
  upstream_auth: 502,
  upstream_bad_request: 400,
  upstream_stream_broken: 502,
  upstream_unavailable: 503,
};

export interface UpstreamErrorOptions {
  /** Short and in our own words, never the upstream's: "HTTP 401", "timeout (first byte after 10 s)". */
  summary: string;
  /** An excerpt of what the upstream said, already passed through sanitizeUpstreamText. */
  detail?: string;
  /** Whether text had already been sent when it failed. Default false. */
  midStream?: boolean;
  retryable: boolean;
  upstreamStatus?: number;
}

/**
 * A cloud upstream failed. `retryable` says whether the same request may succeed if sent again
 * (connection refused, timeout, 429, 5xx), which the upstream's retry loop and circuit breaker use.
 * It carries no `cause`: the SDK's errors hold the upstream's whole body and headers, and a logger
 * would print them.
 */
export class UpstreamError extends EdgeError {
  readonly upstream: string;
  readonly retryable: boolean;
  /** The upstream's HTTP status, when it answered at all. */
  readonly upstreamStatus: number | undefined;
  /** What failed, without anything the upstream wrote: safe for route reasons. */
  readonly summary: string;

  constructor(upstream: string, failure: UpstreamFailure, opts: UpstreamErrorOptions) {
    const where = `upstream '${upstream}' failed${opts.midStream ? " mid-stream" : ""}`;
    const detail = opts.detail ? `: ${opts.detail}` : "";
    super(`${where}: ${opts.summary}${detail}`, {
      status: STATUS[failure],
      type: "server_error",
      code: failure,
    });
    this.upstream = upstream;
    this.retryable = opts.retryable;
    this.upstreamStatus = opts.upstreamStatus;
    this.summary = opts.summary;
  }

  /** Whether this failure says something about the upstream's health (a bad request does not). */
  get countsAgainstHealth(): boolean {
    return this.code !== "upstream_bad_request";
  }
}

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
  ) => {
    const detail = said ? sanitizeUpstreamText(said, opts.secrets) : undefined;
    return new UpstreamError(upstream, midStream ? "upstream_stream_broken" : kind, {
      summary,
      detail: detail || undefined,
      midStream,
      retryable: retryable && !midStream,
      upstreamStatus,
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
    if (status === 429) return fail("upstream_rate_limited", summary, true, said, status);
    if (status === 401 || status === 403) return fail("upstream_auth", summary, false, said, status);
    if (status >= 500) return fail("upstream_server_error", summary, true, said, status);
    return fail("upstream_bad_request", summary, false, said, status);
  }
  const message = error instanceof Error ? error.message : String(error);
  return fail("upstream_stream_broken", "unexpected error", true, message);
}

/** 10000 -> "10 s", 200 -> "0.2 s". */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(ms < 1000 ? 2 : 1))} s`;
}
