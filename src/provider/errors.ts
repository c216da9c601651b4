import { type ErrorCode, type ErrorType, statusAndType } from "./error-codes.js";
import type { Field, FieldPath, Wording } from "./fields.js";

export interface EdgeErrorOptions {
  /** A registered code (error-codes.ts): it decides the status and the type. */
  code: ErrorCode;
  /** The status, for a code whose status varies ("4xx" in the registry); ignored for any other. */
  status?: number;
  /** The type, for a code with several; ignored for any other. */
  type?: ErrorType;
  /** The request field at fault, in our own names: what the layers behind api/ set. */
  field?: FieldPath | null;
  /** The wire parameter at fault: only api/, which knows the wire format, names one. */
  param?: string | null;
  cause?: unknown;
}

/**
 * The error hierarchy every layer throws. Each error carries a stable registered `code`, with its HTTP
 * `status` and OpenAI error `type` from the registry; api/errors.ts maps them to
 * `{error:{message,type,param,code}}` in exactly one place, naming `field` by its wire name.
 */
export class EdgeError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly code: ErrorCode;
  readonly field: FieldPath | null;
  readonly param: string | null;
  /** The message as a function of field names, when it names fields; `message` reads our own names. */
  readonly wording: Wording | undefined;

  constructor(message: string | Wording, opts: EdgeErrorOptions) {
    super(typeof message === "string" ? message : message((field) => field), { cause: opts.cause });
    this.name = new.target.name;
    const { status, type } = statusAndType(opts.code, opts);
    this.status = status;
    this.type = type;
    this.code = opts.code;
    this.field = opts.field ?? null;
    this.param = opts.param ?? null;
    this.wording = typeof message === "string" ? undefined : message;
  }
}

/** Longest piece of client input quoted in an error message, in UTF-16 code units. */
const QUOTE_LIMIT = 100;

/**
 * Client input as an error message quotes it: its first 100 characters and "…", so a megabyte-long model
 * name, tool name or URL is never echoed back whole.
 */
export function clip(text: string, max = QUOTE_LIMIT): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  // Never end on the first half of a surrogate pair: that would be invalid UTF-16 in the JSON.
  const end = code >= 0xd800 && code <= 0xdbff ? max - 1 : max;
  return `${text.slice(0, end)}…`;
}

/** The codes of a request the server refuses to start on (400). */
export type InvalidRequestCode =
  | "invalid_json"
  | "missing_required_parameter"
  | "invalid_type"
  | "invalid_value"
  | "unsupported_parameter"
  | "unsupported_schema"
  | "invalid_schema"
  | "unsupported_tool";

/**
 * A request parameter is missing, malformed or out of range (400). `at` is the wire parameter (api/) or
 * the field, in our names (every other layer).
 */
export class InvalidRequestError extends EdgeError {
  constructor(
    message: string | Wording,
    at: string | { field: FieldPath } | null = null,
    code: InvalidRequestCode = "invalid_value",
  ) {
    super(message, typeof at === "string" || at === null ? { code, param: at } : { code, field: at.field });
  }
}

/** Prompt plus requested completion cannot fit the context window (400, never truncated silently). */
export class ContextOverflowError extends EdgeError {
  constructor(message: Wording, field: Field = "prompt") {
    super(message, { code: "context_length_exceeded", field });
  }
}

/**
 * `/v1/embeddings` on a server with no embedding model (400, not 404: clients read a 404 as an unknown model,
 * LangChain as MODEL_NOT_FOUND, when what is missing is the server's configuration).
 */
export class EmbeddingsNotConfiguredError extends EdgeError {
  constructor() {
    super(
      "This server has no embedding model. Start it with `edgellm serve --embedding-model REF|FILE` " +
        "(or set EDGELLM_EMBEDDING_MODEL), e.g. a GGUF file of an embedding model.",
      { code: "embeddings_not_configured" },
    );
  }
}

/** `/v1/rerank` on a server with no reranker (400, as for embeddings). */
export class RerankNotConfiguredError extends EdgeError {
  constructor() {
    super(
      "This server has no reranker. Start it with `edgellm serve --rerank-model REF|FILE` " +
        "(or set EDGELLM_RERANK_MODEL), e.g. a GGUF file of Qwen3-Reranker or bge-reranker.",
      { code: "rerank_not_configured" },
    );
  }
}

/** The named model is not served here (404); api/ adds where to find the list. */
export class ModelNotFoundError extends EdgeError {
  /** `served`: for a route one model serves (embeddings, rerank), which one, so the message can say it. */
  constructor(model: string, served?: { role: string; id: string }) {
    super(
      served
        ? `The model '${clip(model)}' does not serve ${served.role} here; '${served.id}' does. Name it, send no ` +
            `model, or give a name of yours to it with \`--model-alias ${clip(model)}=${served.id}\`.`
        : `The model '${clip(model)}' does not exist or is not served here.`,
      { code: "model_not_found", field: "model" },
    );
  }
}

/** A model file could not be found locally nor fetched (e.g. offline). */
export class ModelUnavailableError extends EdgeError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: "model_unavailable", cause });
  }
}

/** A download failed verification (size, sha256 or GGUF magic). */
export class DownloadVerificationError extends EdgeError {
  constructor(message: string) {
    super(message, { code: "download_verification_failed" });
  }
}

/** The model is still loading (503). */
export class ModelLoadingError extends EdgeError {
  constructor() {
    super("The model is still loading; retry shortly.", {
      code: "model_loading",
    });
  }
}

/**
 * The local engine's child process (llama-server) died or is restarting (503, with Retry-After): a request
 * in flight ends with it, and one arriving while the restart takes longer than a few seconds gets it.
 */
export class EngineRestartingError extends EdgeError {
  constructor(message = "The engine is restarting after a failure; retry shortly.") {
    super(message, { code: "engine_restarting" });
  }
}

/** The model failed to load: what `/health` answers then (503). */
export class ModelLoadFailedError extends EdgeError {
  constructor() {
    super("The model failed to load; see the server log.", { code: "model_load_failed" });
  }
}

/** The request queue is full (429, with Retry-After). */
export class QueueFullError extends EdgeError {
  readonly retryAfterSeconds: number;
  constructor(
    message = "The server is busy: the request queue is full. Retry shortly.",
    retryAfterSeconds = 1,
  ) {
    super(message, { code: "queue_full" });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A request waited longer than the queue timeout for a slot (503, with Retry-After). */
export class QueueTimeoutError extends EdgeError {
  constructor(waitedMs: number) {
    super(`The server is busy: no slot became free within ${Math.round(waitedMs / 1000)} s. Retry shortly.`, {
      code: "queue_timeout",
    });
  }
}

/**
 * The server is shutting down (503, with Retry-After): new requests are refused at once, and a request still
 * running when the shutdown grace period ends is cut short with this error.
 */
export class ShuttingDownError extends EdgeError {
  constructor(message = "The server is shutting down; retry on another instance or once it has restarted.") {
    super(message, { code: "shutting_down" });
  }
}

/**
 * A browser request from a web page this server does not trust (403), refused before any work is done: any
 * other site could otherwise make the user's browser spend the model (and a configured cloud key).
 */
export class OriginNotAllowedError extends EdgeError {
  constructor(message: string) {
    super(message, { code: "origin_not_allowed" });
  }
}

/** A `Host` header naming a host this server does not answer for (403): the mark of DNS rebinding. */
export class HostNotAllowedError extends EdgeError {
  constructor(message: string) {
    super(message, { code: "host_not_allowed" });
  }
}

/**
 * No API key, or one this server does not know (401, with `WWW-Authenticate: Bearer`). The shape is OpenAI's;
 * OpenAI gives a missing key `code: null`, but one code for both lets a client (the chat page) recognise
 * either and ask for a key. The message never quotes what was sent.
 */
export class InvalidApiKeyError extends EdgeError {
  constructor(missing: boolean) {
    super(
      missing
        ? "This server needs an API key: send it as `Authorization: Bearer KEY` (or `x-api-key: KEY`)."
        : "The API key is not valid for this server.",
      { code: "invalid_api_key" },
    );
  }
}

/**
 * An API key used up its requests per minute or tokens per day (429, with Retry-After). The type is
 * OpenAI's: `requests` or `tokens`, after the limit that was reached.
 */
export class RateLimitExceededError extends EdgeError {
  readonly retryAfterSeconds: number;
  constructor(message: string, limit: "requests" | "tokens", retryAfterSeconds: number) {
    super(message, { code: "rate_limit_exceeded", type: limit });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The request body exceeds the configured limit (413). */
export class PayloadTooLargeError extends EdgeError {
  constructor(limitBytes: number) {
    super(`The request body is larger than the limit of ${limitBytes} bytes.`, {
      code: "payload_too_large",
    });
  }
}

/** No route has this path (404). */
export class NotFoundError extends EdgeError {
  constructor(method: string, url: string) {
    super(`No route for ${clip(method, 16)} ${clip(url)}.`, {
      code: "not_found",
    });
  }
}

/** An admin request names a cache entry that is not there (404): never stored, expired, evicted or purged. */
export class CacheEntryNotFoundError extends EdgeError {
  constructor(id: string) {
    super(`The FAQ cache holds no answer '${clip(id)}'. GET /admin/faq lists them.`, {
      code: "cache_entry_not_found",
    });
  }
}

/** The path exists, but not for this method (405, with an Allow header listing `allowed`). */
export class MethodNotAllowedError extends EdgeError {
  readonly allowed: readonly string[];
  constructor(method: string, url: string, allowed: readonly string[]) {
    super(`${clip(url)} does not answer ${clip(method, 16)}; it answers ${allowed.join(", ")}.`, {
      code: "method_not_allowed",
    });
    this.allowed = allowed;
  }
}

/**
 * The request line or headers cannot be understood: a malformed URL (400 `invalid_url`), a path segment
 * over the router's limit (414 `uri_too_long`), or bytes that are not HTTP (400 `invalid_http_request`).
 */
export class BadHttpRequestError extends EdgeError {
  constructor(message: string, code: "invalid_url" | "uri_too_long" | "invalid_http_request") {
    super(message, { code });
  }
}

/** The request's headers and body did not arrive within the body timeout (408). */
export class RequestTimeoutError extends EdgeError {
  constructor(timeoutMs: number) {
    super(`The request did not arrive within ${timeoutMs / 1000} s; send the whole body without pausing.`, {
      code: "request_timeout",
    });
  }
}

/** The request line and headers together exceed the server's limit (431). */
export class HeadersTooLargeError extends EdgeError {
  constructor(limitBytes: number) {
    super(`The request line and headers are larger than the limit of ${limitBytes} bytes.`, {
      code: "headers_too_large",
    });
  }
}

/** Anything unexpected (500). */
export class InternalError extends EdgeError {
  constructor(message = "Internal server error.", cause?: unknown) {
    super(message, { code: "internal_error", cause });
  }
}

/** A model that cannot be constrained at decode time kept answering outside the requested schema (502). */
export class StructuredOutputError extends EdgeError {
  constructor(message: string) {
    super(message, { code: "structured_output_invalid" });
  }
}

/** What went wrong talking to an upstream, as a stable code (each registered, with its status). */
export type UpstreamFailure = Extract<ErrorCode, `upstream_${string}`>;

/** Retry-After of an upstream 429 that sent none, in seconds: long enough not to hammer a rate window. */
export const UPSTREAM_RETRY_AFTER_SECONDS = 5;

export interface UpstreamErrorOptions {
  /** Short and in our own words, never the upstream's: "HTTP 401", "timeout (first byte after 10 s)". */
  summary: string;
  /** An excerpt of what the upstream said, already passed through sanitizeUpstreamText. */
  detail?: string;
  /** Whether text had already been sent when it failed. Default false. */
  midStream?: boolean;
  retryable: boolean;
  upstreamStatus?: number;
  /** For `upstream_rate_limited`: the upstream's Retry-After, in seconds. Default 5. */
  retryAfterSeconds?: number;
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
  /** When to try again, in seconds; set for `upstream_rate_limited` only (sent as Retry-After). */
  readonly retryAfterSeconds: number | undefined;

  constructor(upstream: string, failure: UpstreamFailure, opts: UpstreamErrorOptions) {
    const where = `upstream '${upstream}' failed${opts.midStream ? " mid-stream" : ""}`;
    const detail = opts.detail ? `: ${opts.detail}` : "";
    super(`${where}: ${opts.summary}${detail}`, { code: failure });
    this.upstream = upstream;
    this.retryable = opts.retryable;
    this.upstreamStatus = opts.upstreamStatus;
    this.summary = opts.summary;
    this.retryAfterSeconds =
      failure === "upstream_rate_limited"
        ? (opts.retryAfterSeconds ?? UPSTREAM_RETRY_AFTER_SECONDS)
        : undefined;
  }

  /** Whether this failure says something about the upstream's health (a bad request does not). */
  get countsAgainstHealth(): boolean {
    return this.code !== "upstream_bad_request";
  }
}

/**
 * A stored response asked for by id that is not there (unknown, expired, deleted, or made with
 * `store: false`): 400 `previous_response_not_found` when a request builds on it, as OpenAI answers,
 * 404 `response_not_found` when it is fetched or deleted.
 */
export class ResponseNotFoundError extends EdgeError {
  /** `param` null: the response itself was asked for; else the request field that named it. */
  constructor(id: string, param: string | null, what: "response" | "item" = "response") {
    super(
      param === null
        ? `Response with id '${clip(id)}' not found.`
        : `${what === "item" ? "Item" : "Previous response"} with id '${clip(id)}' not found (responses are kept for a bounded time, and never with store: false).`,
      param === null ? { code: "response_not_found" } : { code: "previous_response_not_found", param },
    );
  }
}

/** A file asked for by id that is not there for this key (404): unknown, deleted, expired or another key's. */
export class FileNotFoundError extends EdgeError {
  constructor(id: string, param: string | null = null) {
    super(`No file found with id '${clip(id)}'.`, { code: "file_not_found", param });
  }
}

/**
 * A vector store, or a file in one, or a file batch, that is not there for this key (404): another key's
 * things are answered exactly as unknown ones, so an id says nothing about whether it exists.
 */
export class VectorStoreNotFoundError extends EdgeError {
  constructor(
    what: "vector store" | "vector store file" | "file batch",
    id: string,
    param: string | null = null,
  ) {
    super(`No ${what} found with id '${clip(id)}'.`, { code: "vector_store_not_found", param });
  }
}

/** A conversation or conversation item unknown, deleted, expired or another key's (404, as unknown ones). */
export class ConversationNotFoundError extends EdgeError {
  constructor(what: "conversation" | "conversation item", id: string, param: string | null = null) {
    super(`No ${what} found with id '${clip(id)}'.`, { code: "conversation_not_found", param });
  }
}

/** Items that would take a conversation past its bounds (400). */
export class ConversationFullError extends EdgeError {
  constructor(why: string, param: string | null = "items") {
    super(`Cannot add these items: ${why}. Start a new conversation.`, { code: "conversation_full", param });
  }
}

/** A store whose vectors came from another embedding model than the server serves (400). */
export class EmbeddingModelMismatchError extends EdgeError {
  constructor(storeId: string, made: string, served: string | undefined, param: string | null = null) {
    super(
      `The vector store '${clip(storeId)}' was made with the embedding model '${clip(made)}', and this server ` +
        (served ? `serves '${clip(served)}'` : "has no embedding model") +
        `: its vectors cannot be compared. Start the server with --embedding-model ${clip(made)}, or make a new store.`,
      { code: "embedding_model_mismatch", param },
    );
  }
}

/** An upload the knowledge base cannot take by its name (400). */
export class UnsupportedFileError extends EdgeError {
  constructor(message: string, param = "file") {
    super(message, { code: "unsupported_file", param });
  }
}

/** An uploaded file over the per-file limit, or past the key's storage limit (413). */
export class FileTooLargeError extends EdgeError {
  constructor(message: string, code: "file_too_large" | "storage_limit_exceeded" = "file_too_large") {
    super(message, { code });
  }
}
