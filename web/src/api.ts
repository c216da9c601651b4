import { getApiKey } from "./apiKey.js";
import type { AnswerError, Citation } from "./types.js";

/**
 * The OpenAI-compatible API of the server that serves this page. Every URL here is relative, so
 * requests (and the API key in their Authorization header) only ever go to the page's own origin.
 */

export interface ModelInfo {
  id: string;
  /** Context window in tokens, when the server says (edgellm's `meta.context_size`). */
  contextSize?: number;
}

export interface ChatRequest {
  model?: string;
  messages: { role: "system" | "user" | "assistant"; content: string }[];
  temperature: number;
  top_p: number;
  max_tokens?: number;
  seed?: number;
  ignore_eos?: boolean;
  response_format?: { type: "json_object" };
  stream: true;
  stream_options: { include_usage: true };
  /** edgellm: answer from these knowledge bases, citing passages as [1], [2]… */
  file_search?: { vector_store_ids: string[] };
}

/**
 * What a streaming request reports, in order: `open` once, `citations` once when knowledge bases were
 * searched, `delta`s, then `usage` and `finish`.
 */
export type StreamEvent =
  | { type: "open"; route?: string; routeReason?: string; cache?: string }
  | { type: "citations"; citations: Citation[] }
  | { type: "delta"; text: string; model?: string }
  | { type: "finish"; reason: "stop" | "length" }
  | { type: "usage"; promptTokens: number; completionTokens: number };

/** A request that failed; `error` is what the page shows. */
export class ApiError extends Error {
  constructor(readonly error: AnswerError) {
    super(error.message);
  }
}

/** `Authorization: Bearer <key>` when the page has a key; nothing when it has none. */
export function authHeaders(key = getApiKey()): Record<string, string> {
  return key === undefined ? {} : { authorization: `Bearer ${key}` };
}

export async function fetchModels(signal?: AbortSignal): Promise<ModelInfo[]> {
  const headers = authHeaders();
  const res = await fetch("v1/models", { signal, headers });
  if (!res.ok) throw await toApiError(res, "authorization" in headers);
  const body = (await res.json()) as { data?: { id: string; meta?: { context_size?: number } }[] };
  return (body.data ?? []).map((m) => ({ id: m.id, contextSize: m.meta?.context_size }));
}

/**
 * Whether the server accepts `key`, asked with GET /v1/models before the key is saved. "unknown" when
 * the answer says nothing about the key (offline, loading): the caller keeps the key and lets the next
 * request tell.
 */
export async function checkKey(key: string): Promise<"accepted" | "rejected" | "unknown"> {
  try {
    const res = await fetch("v1/models", { headers: authHeaders(key) });
    if (res.ok) return "accepted";
    return (await toApiError(res, true)).error.kind === "auth" ? "rejected" : "unknown";
  } catch {
    return "unknown";
  }
}

/** POSTs a streaming chat completion and yields its events until `[DONE]` or the signal aborts. */
export async function* streamChat(request: ChatRequest, signal: AbortSignal): AsyncGenerator<StreamEvent> {
  let res: Response;
  const auth = authHeaders();
  try {
    res = await fetch("v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json", ...auth },
      body: JSON.stringify(request),
      signal,
    });
  } catch (error) {
    if (signal.aborted) throw error;
    throw new ApiError({ kind: "offline", message: "" });
  }
  if (!res.ok || !res.body) throw await toApiError(res, "authorization" in auth);
  const reason = res.headers.get("x-edgellm-route-reason");
  yield {
    type: "open",
    route: res.headers.get("x-edgellm-route") ?? undefined,
    routeReason: reason == null ? undefined : safeDecode(reason),
    cache: res.headers.get("x-edgellm-cache") ?? undefined,
  };
  for await (const data of sseData(res.body, signal)) {
    if (data === "[DONE]") return;
    let chunk: ChatChunk;
    try {
      chunk = JSON.parse(data) as ChatChunk;
    } catch {
      continue; // a keep-alive or a line we do not understand
    }
    if (chunk.error) throw new ApiError(classify(500, chunk.error.message, chunk.error.code, false));
    if (Array.isArray(chunk.citations))
      yield { type: "citations", citations: chunk.citations.map(toCitation) };
    const choice = chunk.choices?.[0];
    const text = choice?.delta?.content;
    if (text) yield { type: "delta", text, model: chunk.model };
    if (choice?.finish_reason === "stop" || choice?.finish_reason === "length")
      yield { type: "finish", reason: choice.finish_reason };
    if (chunk.usage)
      yield {
        type: "usage",
        promptTokens: chunk.usage.prompt_tokens,
        completionTokens: chunk.usage.completion_tokens,
      };
  }
}

interface WireCitation {
  index: number;
  file_id?: string;
  filename?: string;
  heading_path?: string[];
  text?: string;
  score?: number;
  chunk_index?: number;
}

function toCitation(c: WireCitation): Citation {
  return {
    index: Number(c.index),
    fileId: String(c.file_id ?? ""),
    filename: String(c.filename ?? c.file_id ?? ""),
    headingPath: Array.isArray(c.heading_path) ? c.heading_path.map(String) : [],
    text: String(c.text ?? ""),
    ...(typeof c.score === "number" ? { score: c.score } : {}),
    ...(typeof c.chunk_index === "number" ? { chunkIndex: c.chunk_index } : {}),
  };
}

interface ChatChunk {
  /** edgellm, on the first chunk when the request had `file_search`: the numbered passages the answer may cite. */
  citations?: WireCitation[];
  model?: string;
  choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[];
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
  error?: { message: string; code?: string | null };
}

/** The `data:` payloads of a server-sent event stream, one per event. */
export async function* sseData(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const onAbort = () => void reader.cancel().catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read().catch((error: unknown) => {
        // The connection dropped mid-answer: the server stopped or the network went away.
        if (signal.aborted) throw error;
        throw new ApiError({ kind: "offline", message: "" });
      });
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      // Events end with a blank line; CRLF and LF are both legal.
      for (let end = blankLine(buffer); end; end = blankLine(buffer)) {
        const event = buffer.slice(0, end.index);
        buffer = buffer.slice(end.index + end.length);
        const data = event
          .split(/\r?\n/)
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(line.startsWith("data: ") ? 6 : 5))
          .join("\n");
        if (data) yield data;
      }
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
  if (signal.aborted) throw signal.reason;
}

function blankLine(buffer: string): { index: number; length: number } | undefined {
  const match = /\r?\n\r?\n/.exec(buffer);
  return match ? { index: match.index, length: match[0].length } : undefined;
}

export async function toApiError(res: Response, keySent: boolean): Promise<ApiError> {
  let message = "";
  let code: string | undefined;
  try {
    const body = (await res.json()) as { error?: { message?: string; code?: string } };
    message = body.error?.message ?? "";
    code = body.error?.code;
  } catch {
    // not JSON: a proxy's error page, for instance
  }
  const error = classify(res.status, message, code, keySent);
  const retryAfter = Number(res.headers.get("retry-after"));
  if (retryAfter > 0) error.retryAfter = retryAfter;
  return new ApiError(error);
}

/**
 * What the page tells the user, from the server's error code first (it is stable, see the README's
 * error table) and the status only when the code is unknown, e.g. from a proxy in front.
 */
function classify(
  status: number,
  message: string,
  code: string | null | undefined,
  keySent: boolean,
): AnswerError {
  const base = { status, message, ...(code ? { code } : {}) };
  switch (code) {
    case "invalid_api_key":
      return { kind: "auth", keySent, ...base };
    case "origin_not_allowed":
    case "host_not_allowed":
      return { kind: "forbidden", ...base };
    case "rate_limit_exceeded":
      return { kind: "rateLimited", ...base };
    case "model_loading":
      return { kind: "loading", ...base };
    case "queue_full":
    case "queue_timeout":
      return { kind: "busy", ...base };
    case "context_length_exceeded":
      return { kind: "context", ...base };
  }
  if (status === 429) return { kind: "busy", ...base };
  // model_load_failed, shutting_down, model_unavailable, a proxy's 503: not something waiting fixes.
  if (status === 503) return { kind: "unavailable", ...base };
  return { kind: "server", ...base, message: message || `HTTP ${status}` };
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
