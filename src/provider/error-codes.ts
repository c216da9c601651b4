/**
 * Every error code this server sends, registered once: its HTTP status, its OpenAI error `type` and a
 * line on when a client gets it. The EdgeError classes (errors.ts) take status and type from here by
 * code, so the two cannot disagree; the README's error table is generated from it
 * (`node dist/test/helpers/error-table.js --write`) and a test keeps the two equal. (Fastify registers
 * its codes the same way, `lib/errors.js`, and tests its docs against them.)
 */

/** OpenAI's error types, and the limit names OpenAI puts in `type` when a rate limit is reached. */
export type ErrorType = "invalid_request_error" | "rate_limit_error" | "server_error" | "requests" | "tokens";

export interface ErrorCodeInfo {
  /**
   * HTTP status of the response, or "4xx" for a client error whose status comes from the HTTP layer
   * (Fastify's own 4xx errors, passed through under one code).
   */
  readonly status: number | "4xx";
  /** OpenAI error `type`; a list when the error names one of several (the first is the default). */
  readonly type: ErrorType | readonly ErrorType[];
  /** Headers the response carries besides the body, as the docs name them. */
  readonly headers?: string;
  /** Whether `param` names the parameter at fault. */
  readonly param?: true;
  /** When a client gets this code, in one line of Markdown. */
  readonly meaning: string;
}

const BAD = "invalid_request_error";
const SERVER = "server_error";

export const ERROR_CODES = {
  invalid_json: { status: 400, type: BAD, meaning: "malformed JSON, or a body that is not a JSON object" },
  missing_required_parameter: { status: 400, type: BAD, param: true, meaning: "a required parameter absent" },
  invalid_type: {
    status: 400,
    type: BAD,
    param: true,
    meaning: 'a parameter of the wrong JSON type (`"stream": "yes"`, `"messages": "hi"`)',
  },
  invalid_value: {
    status: 400,
    type: BAD,
    param: true,
    meaning:
      'a parameter out of range, not an allowed value, empty (`"prompt": ""`) or over a size limit (below)',
  },
  unsupported_parameter: {
    status: 400,
    type: BAD,
    param: true,
    meaning:
      "a parameter this server does not support (`n` > 1, `echo`, the legacy `functions` / `function_call`: send `tools` / `tool_choice`)",
  },
  context_length_exceeded: {
    status: 400,
    type: BAD,
    param: true,
    meaning:
      "prompt + `max_tokens` larger than the context (never silently truncated), a cloud upstream's included; the message has OpenAI's wording",
  },
  unsupported_schema: {
    status: 400,
    type: BAD,
    param: true,
    meaning:
      "a schema keyword the grammar cannot enforce, or a schema past a [limit](docs/structured-output.md#limits)",
  },
  invalid_schema: {
    status: 400,
    type: BAD,
    param: true,
    meaning:
      "a JSON schema that cannot be compiled for validating an upstream's answer (e.g. a `$ref` to nowhere)",
  },
  unsupported_tool: {
    status: 400,
    type: BAD,
    param: true,
    meaning:
      "`/v1/responses`: a `tool_choice` that forces a built-in tool (`web_search`, `code_interpreter`, ...) edgellm does not have (offered and not forced, such a tool is left out and named in `x-edgellm-tools-ignored`)",
  },
  previous_response_not_found: {
    status: 400,
    type: BAD,
    param: true,
    meaning:
      "`/v1/responses`: a `previous_response_id` (or an `item_reference`) that is unknown, expired, deleted or was made with `store: false`",
  },
  embeddings_not_configured: {
    status: 400,
    type: BAD,
    meaning: "`POST /v1/embeddings` on a server started without `--embedding-model`",
  },
  rerank_not_configured: {
    status: 400,
    type: BAD,
    meaning: "`POST /v1/rerank` on a server started without `--rerank-model`",
  },
  invalid_url: { status: 400, type: BAD, meaning: "a URL with a malformed `%` escape" },
  invalid_http_request: { status: 400, type: BAD, meaning: "bytes that are not HTTP/1.1" },
  invalid_request: {
    status: "4xx",
    type: BAD,
    meaning: "another malformed request (e.g. a body shorter than its `Content-Length`)",
  },
  invalid_api_key: {
    status: 401,
    type: BAD,
    headers: "WWW-Authenticate: Bearer",
    meaning: "no API key, or a wrong one, when keys are set",
  },
  origin_not_allowed: {
    status: 403,
    type: BAD,
    meaning:
      "a browser request from a web page whose origin is not allowed (also `Origin: null`, and cross-site requests without an Origin)",
  },
  host_not_allowed: {
    status: 403,
    type: BAD,
    meaning: "a `Host` the server does not answer for (DNS rebinding)",
  },
  not_found: { status: 404, type: BAD, meaning: "unknown path" },
  file_not_found: {
    status: 404,
    type: BAD,
    meaning: "a file id that is unknown, deleted or another API key's (`/v1/files`, `file_ids`)",
  },
  vector_store_not_found: {
    status: 404,
    type: BAD,
    meaning:
      "a vector store, vector store file or file batch that is unknown, deleted, expired or another API key's",
  },
  conversation_not_found: {
    status: 404,
    type: BAD,
    meaning:
      "a conversation (`/v1/conversations`, the Responses `conversation`) or conversation item that is unknown, deleted, expired or another API key's",
  },
  conversation_full: {
    status: 400,
    type: BAD,
    param: true,
    meaning: "items that would take a conversation past its bounds (items or bytes; the message names which)",
  },
  embedding_model_mismatch: {
    status: 400,
    type: BAD,
    param: true,
    meaning:
      "a vector store made with one embedding model, searched or added to on a server serving another (or none)",
  },
  unsupported_file: {
    status: 400,
    type: BAD,
    param: true,
    meaning:
      "`POST /v1/files`: a file name that is not a plain name (path separators, `..`, control characters, over 255 characters)",
  },
  model_not_found: { status: 404, type: BAD, param: true, meaning: "unknown model" },
  cache_entry_not_found: {
    status: 404,
    type: BAD,
    meaning: "`DELETE /admin/faq/:id` for an answer the FAQ cache does not hold",
  },
  response_not_found: {
    status: 404,
    type: BAD,
    meaning:
      "`GET`/`DELETE /v1/responses/{id}` of a response not stored (unknown, expired, deleted, `store: false`)",
  },
  method_not_allowed: {
    status: 405,
    type: BAD,
    headers: "Allow",
    meaning: "a known path with another method",
  },
  request_timeout: {
    status: 408,
    type: BAD,
    meaning: "headers and body not received within `--body-timeout`",
  },
  payload_too_large: { status: 413, type: BAD, meaning: "body over the limit (8 MiB)" },
  file_too_large: { status: 413, type: BAD, meaning: "an uploaded file over `--kb-max-file-size` (50 MiB)" },
  storage_limit_exceeded: {
    status: 413,
    type: BAD,
    meaning: "an API key's files and chunks would pass `--kb-max-storage`",
  },
  uri_too_long: { status: 414, type: BAD, meaning: "a path segment over 100 characters (`/v1/models/{id}`)" },
  headers_too_large: { status: 431, type: BAD, meaning: "request line and headers over 16 KiB" },
  queue_full: { status: 429, type: "rate_limit_error", headers: "Retry-After", meaning: "queue full" },
  rate_limit_exceeded: {
    status: 429,
    type: ["requests", "tokens"],
    headers: "Retry-After",
    meaning: 'an API key over its `--key-rpm` (`type: "requests"`) or `--key-tpd` (`type: "tokens"`)',
  },
  internal_error: {
    status: 500,
    type: SERVER,
    meaning: "anything unexpected (the server's log has the details)",
  },
  structured_output_invalid: {
    status: 502,
    type: SERVER,
    meaning: "an upstream's JSON still invalid after retries",
  },
  download_verification_failed: {
    status: 502,
    type: SERVER,
    meaning: "a model download that fails verification (size, sha256 or GGUF magic)",
  },
  model_unavailable: {
    status: 503,
    type: SERVER,
    headers: "Retry-After",
    meaning: "a model file neither found locally nor fetched (e.g. offline)",
  },
  model_loading: { status: 503, type: SERVER, headers: "Retry-After", meaning: "model still loading" },
  engine_restarting: {
    status: 503,
    type: SERVER,
    headers: "Retry-After",
    meaning: "the llama-server engine died; a request it was answering, or one arriving before it is back",
  },
  model_load_failed: {
    status: 503,
    type: SERVER,
    headers: "Retry-After",
    meaning: "`/health` once the model failed to load",
  },
  queue_timeout: {
    status: 503,
    type: SERVER,
    headers: "Retry-After",
    meaning: "no slot free within `--queue-timeout`",
  },
  shutting_down: {
    status: 503,
    type: SERVER,
    headers: "Retry-After",
    meaning:
      "the server is shutting down (a new or queued request; one still running when `--shutdown-grace` ends gets it as a 503, or mid-stream as a final SSE error event)",
  },
  upstream_unreachable: {
    status: 502,
    type: SERVER,
    meaning: "a cloud upstream that cannot be connected to (refused, DNS, TLS)",
  },
  upstream_timeout: {
    status: 504,
    type: SERVER,
    meaning: "a cloud upstream past its connect, first-byte or idle timeout",
  },
  upstream_rate_limited: {
    status: 429,
    type: "rate_limit_error",
    headers: "Retry-After",
    meaning: "a cloud upstream answering 429 (its own Retry-After, else 5 s)",
  },
  upstream_server_error: { status: 502, type: SERVER, meaning: "a cloud upstream answering 5xx" },
  upstream_auth: { status: 502, type: SERVER, meaning: "a cloud upstream refusing our API key (401, 403)" },
  upstream_bad_request: {
    status: 400,
    type: BAD,
    meaning: "a cloud upstream refusing the request (another 4xx)",
  },
  upstream_stream_broken: {
    status: 502,
    type: SERVER,
    meaning:
      "an upstream breaking its protocol, or failing after its answer began streaming (then as a final SSE error event)",
  },
  upstream_unavailable: {
    status: 503,
    type: SERVER,
    headers: "Retry-After",
    meaning: "every replica of a cloud upstream has its circuit open",
  },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/**
 * An error's status and type, from the registry. Only a "4xx" code takes the status it is given (a client
 * error status, else 400), and only a code with several types the type it is given (one of them, else the
 * first): everywhere else the registry wins.
 */
export function statusAndType(
  code: ErrorCode,
  wanted: { status?: number; type?: ErrorType } = {},
): { status: number; type: ErrorType } {
  const info: ErrorCodeInfo = ERROR_CODES[code];
  const status =
    info.status !== "4xx"
      ? info.status
      : wanted.status !== undefined && wanted.status >= 400 && wanted.status < 500
        ? wanted.status
        : 400;
  const types: readonly ErrorType[] = typeof info.type === "string" ? [info.type] : info.type;
  const type = wanted.type !== undefined && types.includes(wanted.type) ? wanted.type : types[0];
  return { status, type };
}
