import type { AnswerError } from "./types.js";

/** The OpenAI-compatible API of the server that serves this page (same origin). */

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
}

/** What a streaming request reports, in order: `open` once, `delta`s, then `usage` and `finish`. */
export type StreamEvent =
  | { type: "open"; route?: string; routeReason?: string; cache?: string }
  | { type: "delta"; text: string; model?: string }
  | { type: "finish"; reason: "stop" | "length" }
  | { type: "usage"; promptTokens: number; completionTokens: number };

/** A request that failed; `error` is what the page shows. */
export class ApiError extends Error {
  constructor(readonly error: AnswerError) {
    super(error.message);
  }
}

export async function fetchModels(signal?: AbortSignal): Promise<ModelInfo[]> {
  const res = await fetch("v1/models", { signal });
  if (!res.ok) throw await toApiError(res);
  const body = (await res.json()) as { data?: { id: string; meta?: { context_size?: number } }[] };
  return (body.data ?? []).map((m) => ({ id: m.id, contextSize: m.meta?.context_size }));
}

/** POSTs a streaming chat completion and yields its events until `[DONE]` or the signal aborts. */
export async function* streamChat(request: ChatRequest, signal: AbortSignal): AsyncGenerator<StreamEvent> {
  let res: Response;
  try {
    res = await fetch("v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
      signal,
    });
  } catch (error) {
    if (signal.aborted) throw error;
    throw new ApiError({ kind: "offline", message: "" });
  }
  if (!res.ok || !res.body) throw await toApiError(res);
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
    if (chunk.error) throw new ApiError(classify(500, chunk.error.message, chunk.error.code));
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

interface ChatChunk {
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

async function toApiError(res: Response): Promise<ApiError> {
  let message = "";
  let code: string | undefined;
  try {
    const body = (await res.json()) as { error?: { message?: string; code?: string } };
    message = body.error?.message ?? "";
    code = body.error?.code;
  } catch {
    // not JSON: a proxy's error page, for instance
  }
  const error = classify(res.status, message, code);
  const retryAfter = Number(res.headers.get("retry-after"));
  if (retryAfter > 0) error.retryAfter = retryAfter;
  return new ApiError(error);
}

function classify(status: number, message: string, code?: string | null): AnswerError {
  if (status === 429) return { kind: "busy", status, message };
  if (status === 503) return { kind: "loading", status, message };
  if (code === "context_length_exceeded") return { kind: "context", status, message };
  return { kind: "server", status, message: message || `HTTP ${status}` };
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
