import type { OutgoingHttpHeaders } from "node:http";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { ParsedRequest } from "../../openai/from-request.js";
import {
  newResponseMeta,
  type ResponseMeta,
  toChatChunk,
  toChatCompletion,
  toChatUsageChunk,
  toCompletion,
  toCompletionChunk,
  toCompletionUsageChunk,
  toToolCallChunk,
} from "../../openai/to-response.js";
import { mergeServingMeta } from "../../provider/serving-meta.js";
import type {
  FinishReason,
  ModelProvider,
  ServingMeta,
  StreamPart,
  TokenLogprob,
  ToolCall,
  Usage,
} from "../../provider/types.js";
import { cacheModeOf, contextOverflowOf } from "../cache-hint.js";
import { toErrorResponse } from "../errors.js";
import { routingHintsOf } from "../routing-hints.js";
import { SseWriter } from "../sse.js";

export type GenerationKind = "chat" | "text";

/** Per-kind wire shapes, so chat and text completions share one streaming loop. */
const shapes = {
  chat: {
    full: toChatCompletion,
    opening: (meta: ResponseMeta) => toChatChunk(meta, { role: "assistant", content: "" }, null),
    delta: (meta: ResponseMeta, text: string, logprobs?: TokenLogprob[]) =>
      toChatChunk(meta, { content: text }, null, logprobs),
    finish: (meta: ResponseMeta, reason: FinishReason) => toChatChunk(meta, {}, reason),
    usage: toChatUsageChunk,
  },
  text: {
    full: toCompletion,
    opening: undefined,
    delta: (meta: ResponseMeta, text: string) => toCompletionChunk(meta, text, null),
    finish: (meta: ResponseMeta, reason: FinishReason) => toCompletionChunk(meta, "", reason),
    usage: toCompletionUsageChunk,
  },
};

/**
 * Runs one generation and writes it as JSON or SSE. The first part is awaited before any byte is sent,
 * so errors raised up front (context overflow, queue full) still get their proper HTTP status.
 */
export async function serveGeneration(
  provider: ModelProvider,
  kind: GenerationKind,
  parsed: ParsedRequest,
  request: FastifyRequest,
  reply: FastifyReply,
  limits: { bodyLimit: number },
  /** Fields added to the body, or to the first chunk of a stream (a grounded answer's `citations`). */
  extra?: Record<string, unknown>,
): Promise<void> {
  const { model, serving, first, parts } = await beginGeneration(provider, parsed, request, reply);
  const meta = newResponseMeta(kind, serving.model ?? model);
  const shape = shapes[kind];
  const headers = servingHeaders(serving);

  if (!parsed.stream) {
    let text = "";
    let finish: { reason: FinishReason; usage: Usage } | undefined;
    const toolCalls: ToolCall[] = [];
    const logprobs: TokenLogprob[] | undefined = parsed.controls.logprobs ? [] : undefined;
    for (let step = first; !step.done; step = await parts.next()) {
      const part: StreamPart = step.value;
      if (part.type === "text-delta") {
        text += part.text;
        if (part.logprobs) logprobs?.push(...part.logprobs);
      } else if (part.type === "tool-call-delta") {
        toolCalls[part.index] ??= { id: part.id ?? "", name: part.name ?? "", arguments: "" };
        toolCalls[part.index].arguments += part.argumentsDelta;
      } else if (part.type === "finish") finish = { reason: part.finishReason, usage: part.usage };
    }
    if (!finish) return; // aborted: nobody is listening
    const body = {
      ...(kind === "chat"
        ? shapes.chat.full(meta, text, finish.reason, finish.usage, { toolCalls, logprobs })
        : shapes.text.full(meta, text, finish.reason, finish.usage)),
      ...extra,
    };
    await reply
      .headers(headers)
      .send(Object.keys(serving).length > 0 ? { ...body, edgellm: toServingBody(serving) } : body);
    return;
  }

  const sse = openStream(reply, headers);
  if (shape.opening) sse.send({ ...shape.opening(meta), ...extra });
  try {
    for (let step = first; !step.done; step = await parts.next()) {
      const part: StreamPart = step.value;
      if (part.type === "text-delta") {
        // A logprobs-only part (tokens that produced no text yet) is still worth a chunk.
        if (part.text !== "" || part.logprobs?.length) sse.send(shape.delta(meta, part.text, part.logprobs));
      } else if (part.type === "tool-call-delta") {
        if (kind === "chat") sse.send(toToolCallChunk(meta, part));
      } else if (part.type === "finish") {
        sse.send(shape.finish(meta, part.finishReason));
        if (parsed.includeUsage) sse.send(shape.usage(meta, part.usage));
      }
    }
    sse.done();
  } catch (error) {
    const response = toErrorResponse(error, limits, kind === "chat" ? "chat" : "completions");
    // A 503 (a shutdown cutting the stream short) is expected, as in the app's error handler.
    if (response.status !== 503) request.log.error({ err: error }, "generation failed mid-stream");
    sse.fail(response.body);
  }
}

/** A generation under way: its leading meta parts read, its first other part awaited. */
export interface BegunGeneration {
  model: string;
  serving: ServingMeta;
  first: IteratorResult<StreamPart>;
  parts: AsyncIterator<StreamPart>;
}

/**
 * Starts a generation through the provider chain, aborted when the client goes away, and waits for its
 * first part, so that an error raised up front still gets its HTTP status.
 */
export async function beginGeneration(
  provider: ModelProvider,
  parsed: ParsedRequest,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<BegunGeneration> {
  const model = provider.resolveModel(parsed.model);
  const cache = cacheModeOf(request.headers);
  const contextOverflow = parsed.controls.contextOverflow ?? contextOverflowOf(request.headers);
  const controller = new AbortController();
  // A closed connection before the response ends means the client went away: stop generating.
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) controller.abort(new Error("client disconnected"));
  });
  const parts = provider
    .stream(
      {
        model,
        prompt: parsed.prompt,
        sampling: parsed.sampling,
        ...parsed.controls,
        routing: routingHintsOf(request.headers, request.body),
        ...(cache && { cache }),
        ...(contextOverflow && { contextOverflow }),
      },
      { signal: controller.signal },
    )
    [Symbol.asyncIterator]();
  // Leading meta parts (route, cache, warnings) must be known before headers go out.
  const serving: ServingMeta = {};
  let first = await parts.next();
  while (!first.done && first.value.type === "meta") {
    mergeServingMeta(serving, first.value.meta);
    first = await parts.next();
  }
  return { model, serving, first, parts };
}

/** Takes the response over for server-sent events. */
export function openStream(reply: FastifyReply, headers: Record<string, string | string[]>): SseWriter {
  // Headers the hooks set (CORS, nosniff, `connection: close` while draining) live on the reply, which a
  // hijacked response bypasses: they are written with the stream's own.
  const hooked = reply.getHeaders() as OutgoingHttpHeaders;
  reply.hijack();
  const sse = new SseWriter(reply.raw);
  sse.open({ ...hooked, ...headers });
  return sse;
}

/** Response headers that tell the client how its request was served; one `x-edgellm-warning` per warning. */
export function servingHeaders(serving: ServingMeta): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  if (serving.route) headers["x-edgellm-route"] = serving.route;
  // Header values must be ASCII; a reason in another script is percent-encoded.
  if (serving.routeReason) headers["x-edgellm-route-reason"] = asciiHeader(serving.routeReason);
  if (serving.cache) headers["x-edgellm-cache"] = serving.cache;
  if (serving.warnings?.length) headers["x-edgellm-warning"] = serving.warnings.map(asciiHeader);
  if (serving.truncated)
    headers["x-edgellm-truncated"] = `turns=${serving.truncated.turns}, tokens=${serving.truncated.tokens}`;
  return headers;
}

/** The `edgellm` field of a non-streaming body: the same facts as the headers. */
export function toServingBody(serving: ServingMeta) {
  return {
    route: serving.route,
    route_reason: serving.routeReason,
    cache: serving.cache,
    ...(serving.warnings?.length && { warnings: serving.warnings }),
    ...(serving.truncated && { truncated: serving.truncated }),
  };
}

function asciiHeader(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}
