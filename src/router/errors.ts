import { EdgeError } from "../errors.js";

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

/**
 * A cloud upstream failed. `retryable` says whether the same request may succeed if sent again
 * (connection refused, timeout, 429, 5xx), which the upstream's retry loop and circuit breaker use.
 */
export class UpstreamError extends EdgeError {
  readonly upstream: string;
  readonly retryable: boolean;
  /** The upstream's HTTP status, when it answered at all. */
  readonly upstreamStatus: number | undefined;

  constructor(
    upstream: string,
    failure: UpstreamFailure,
    message: string,
    opts: { retryable: boolean; upstreamStatus?: number; cause?: unknown },
  ) {
    super(message, { status: STATUS[failure], type: "server_error", code: failure, cause: opts.cause });
    this.upstream = upstream;
    this.retryable = opts.retryable;
    this.upstreamStatus = opts.upstreamStatus;
  }

  /** Whether this failure says something about the upstream's health (a bad request does not). */
  get countsAgainstHealth(): boolean {
    return this.code !== "upstream_bad_request";
  }
}
