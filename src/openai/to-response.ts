import { randomUUID } from "node:crypto";
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessageFunctionToolCall,
  ChatCompletionTokenLogprob,
  Completion,
  CompletionUsage,
} from "openai/resources";
import type { FinishReason, TokenLogprob, ToolCall, Usage } from "../provider/types.js";

/**
 * Server side, outward: our parts to OpenAI's response objects and chunks. The return types are the
 * `openai` package's own, so the compiler checks every object against OpenAI's published shape.
 */

export interface ResponseMeta {
  id: string;
  /** Unix seconds. */
  created: number;
  model: string;
}

export function newResponseMeta(kind: "chat" | "text", model: string): ResponseMeta {
  const prefix = kind === "chat" ? "chatcmpl-" : "cmpl-";
  return { id: prefix + randomUUID().replaceAll("-", ""), created: Math.floor(Date.now() / 1000), model };
}

/** The fields every response object and chunk starts with. */
function envelope<Kind extends string>(meta: ResponseMeta, object: Kind) {
  return { id: meta.id, object, created: meta.created, model: meta.model };
}

/** OpenAI's `usage`, with the prompt tokens whose KV state was reused as `cached_tokens`. */
export function toWireUsage(usage: Usage): CompletionUsage {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens },
  };
}

/** Tool calls and logprobs of a finished answer, when there are any. */
export interface ChatExtras {
  toolCalls?: readonly ToolCall[];
  logprobs?: readonly TokenLogprob[];
}

export function toChatCompletion(
  meta: ResponseMeta,
  text: string,
  finishReason: FinishReason,
  usage: Usage,
  extras: ChatExtras = {},
): ChatCompletion {
  const finished = completeCalls(extras.toolCalls ?? [], finishReason);
  const calls = finished.length > 0 ? toToolCalls(finished) : undefined;
  return {
    ...envelope(meta, "chat.completion"),
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          // OpenAI sends null content on a call-only answer.
          content: calls && text === "" ? null : text,
          refusal: null,
          ...(calls ? { tool_calls: calls } : {}),
        },
        logprobs: extras.logprobs ? toLogprobs(extras.logprobs) : null,
        finish_reason: finishReason,
      },
    ],
    usage: toWireUsage(usage),
  };
}

/** A streaming chunk; `delta` carries the role on the first chunk only, as OpenAI does. */
export function toChatChunk(
  meta: ResponseMeta,
  delta: { role?: "assistant"; content?: string },
  finishReason: FinishReason | null,
  logprobs?: readonly TokenLogprob[],
): ChatCompletionChunk {
  return {
    ...envelope(meta, "chat.completion.chunk"),
    choices: [
      { index: 0, delta, logprobs: logprobs ? toLogprobs(logprobs) : null, finish_reason: finishReason },
    ],
  };
}

/** A streaming chunk carrying one fragment of a tool call. */
export function toToolCallChunk(
  meta: ResponseMeta,
  part: { index: number; id?: string; name?: string; argumentsDelta: string },
): ChatCompletionChunk {
  return {
    ...envelope(meta, "chat.completion.chunk"),
    choices: [
      { index: 0, delta: { tool_calls: [toToolCallDelta(part)] }, logprobs: null, finish_reason: null },
    ],
  };
}

/** The last chunk when `stream_options.include_usage` is set: no choices, only usage. */
export function toChatUsageChunk(meta: ResponseMeta, usage: Usage): ChatCompletionChunk {
  return { ...envelope(meta, "chat.completion.chunk"), choices: [], usage: toWireUsage(usage) };
}

/** A text completion never ends in tool calls; OpenAI's type has no such reason. */
type TextFinishReason = Completion["choices"][number]["finish_reason"];

function textFinish(reason: FinishReason): TextFinishReason {
  return reason === "tool_calls" ? "stop" : reason;
}

export function toCompletion(
  meta: ResponseMeta,
  text: string,
  finishReason: FinishReason,
  usage: Usage,
): Completion {
  return {
    ...envelope(meta, "text_completion"),
    choices: [{ index: 0, text, logprobs: null, finish_reason: textFinish(finishReason) }],
    usage: toWireUsage(usage),
  };
}

/** A text completion chunk; OpenAI streams these with the whole object's type, finish_reason null included. */
export function toCompletionChunk(meta: ResponseMeta, text: string, finishReason: FinishReason | null) {
  return {
    ...envelope(meta, "text_completion"),
    choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason && textFinish(finishReason) }],
  };
}

export function toCompletionUsageChunk(meta: ResponseMeta, usage: Usage): Completion {
  return { ...envelope(meta, "text_completion"), choices: [], usage: toWireUsage(usage) };
}

/**
 * The calls of a whole (non-streaming) answer, without a last call that generation stopped inside
 * (max_tokens): its arguments are not JSON yet and no client could run it. finish_reason tells why.
 */
export function completeCalls(calls: readonly ToolCall[], finishReason: FinishReason): readonly ToolCall[] {
  const last = calls.at(-1);
  if (!last || finishReason === "tool_calls" || isJson(last.arguments)) return calls;
  return calls.slice(0, -1);
}

/** Whether `text` parses as JSON (a tool call's arguments are whole). */
export function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** OpenAI `message.tool_calls`. */
export function toToolCalls(calls: readonly ToolCall[]): ChatCompletionMessageFunctionToolCall[] {
  return calls.map((call) => ({
    id: call.id,
    type: "function",
    function: { name: call.name, arguments: call.arguments },
  }));
}

type ToolCallDelta = NonNullable<ChatCompletionChunk.Choice.Delta["tool_calls"]>[number];

/** One streamed fragment of a call: the first carries id, type and name; later ones arguments only. */
export function toToolCallDelta(part: {
  index: number;
  id?: string;
  name?: string;
  argumentsDelta: string;
}): ToolCallDelta {
  return part.id !== undefined
    ? {
        index: part.index,
        id: part.id,
        type: "function",
        function: { name: part.name ?? "", arguments: part.argumentsDelta },
      }
    : { index: part.index, function: { arguments: part.argumentsDelta } };
}

/** OpenAI `choices[].logprobs`. */
export function toLogprobs(logprobs: readonly TokenLogprob[]): {
  content: ChatCompletionTokenLogprob[];
  refusal: null;
} {
  return {
    content: logprobs.map((l) => ({
      token: l.token,
      logprob: l.logprob,
      bytes: l.bytes,
      top_logprobs: l.top.map((t) => ({ token: t.token, logprob: t.logprob, bytes: t.bytes })),
    })),
    refusal: null,
  };
}
