import type { FastifyReply, FastifyRequest } from "fastify";
import type { FinishReason, ModelProvider, StreamPart, Usage } from "../../engine/types.js";
import { toErrorResponse } from "../errors.js";
import { SseWriter } from "../sse.js";
import {
  newResponseMeta,
  type ParsedRequest,
  type ResponseMeta,
  toChatChunk,
  toChatCompletion,
  toChatUsageChunk,
  toCompletion,
  toCompletionChunk,
  toCompletionUsageChunk,
} from "../translate.js";

export type GenerationKind = "chat" | "text";

/** Per-kind wire shapes, so chat and text completions share one streaming loop. */
const shapes = {
  chat: {
    full: toChatCompletion,
    opening: (meta: ResponseMeta) => toChatChunk(meta, { role: "assistant", content: "" }, null),
    delta: (meta: ResponseMeta, text: string) => toChatChunk(meta, { content: text }, null),
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
): Promise<void> {
  const model = provider.resolveModel(parsed.model);
  const controller = new AbortController();
  // A closed connection before the response ends means the client went away: stop generating.
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) controller.abort(new Error("client disconnected"));
  });
  const parts = provider
    .stream({ model, prompt: parsed.prompt, sampling: parsed.sampling }, { signal: controller.signal })
    [Symbol.asyncIterator]();
  const first = await parts.next();
  const meta = newResponseMeta(kind, model);
  const shape = shapes[kind];

  if (!parsed.stream) {
    let text = "";
    let finish: { reason: FinishReason; usage: Usage } | undefined;
    for (let step = first; !step.done; step = await parts.next()) {
      const part: StreamPart = step.value;
      if (part.type === "text-delta") text += part.text;
      else finish = { reason: part.finishReason, usage: part.usage };
    }
    if (!finish) return; // aborted: nobody is listening
    await reply.send(shape.full(meta, text, finish.reason, finish.usage));
    return;
  }

  reply.hijack();
  const sse = new SseWriter(reply.raw);
  sse.open();
  if (shape.opening) sse.send(shape.opening(meta));
  try {
    for (let step = first; !step.done; step = await parts.next()) {
      const part: StreamPart = step.value;
      if (part.type === "text-delta") {
        sse.send(shape.delta(meta, part.text));
      } else {
        sse.send(shape.finish(meta, part.finishReason));
        if (parsed.includeUsage) sse.send(shape.usage(meta, part.usage));
      }
    }
    sse.done();
  } catch (error) {
    request.log.error({ err: error }, "generation failed mid-stream");
    sse.fail(toErrorResponse(error, limits).body);
  }
}
