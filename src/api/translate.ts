import { randomUUID } from "node:crypto";
import type { z } from "zod";
import {
  type ChatMessage,
  DEFAULT_SAMPLING,
  type FinishReason,
  type Prompt,
  type SamplingParams,
  type Usage,
} from "../engine/types.js";
import { InvalidRequestError } from "../errors.js";
import {
  type ChatMessageBody,
  type ChatRequestBody,
  type CompletionRequestBody,
  chatRequestSchema,
  completionRequestSchema,
} from "./schemas.js";

/**
 * OpenAI wire format <-> internal types, as pure functions. Nothing else in the code base knows
 * OpenAI's field names.
 */

/** A validated request, before the model name is resolved. */
export interface ParsedRequest {
  model: string | undefined;
  prompt: Prompt;
  sampling: SamplingParams;
  stream: boolean;
  includeUsage: boolean;
}

export function fromChatRequest(body: unknown): ParsedRequest {
  const req = validate(chatRequestSchema, body);
  refuseUnsupported(req.n != null && req.n !== 1, "n", "Only n=1 is supported: send one request per choice.");
  refuseUnsupported(
    req.response_format != null && (req.response_format as { type?: unknown }).type !== "text",
    "response_format",
    "response_format is not supported yet by this server.",
  );
  refuseUnsupported(
    Array.isArray(req.tools) && req.tools.length > 0,
    "tools",
    "Tool calling is not supported yet by this server.",
  );
  refuseUnsupported(req.logprobs === true, "logprobs", "logprobs is not supported yet by this server.");
  const messages = req.messages.map(toChatMessage);
  return {
    model: req.model,
    prompt: { kind: "chat", messages },
    sampling: toSampling(req, req.max_completion_tokens ?? req.max_tokens ?? undefined),
    stream: req.stream === true,
    includeUsage: req.stream_options?.include_usage === true,
  };
}

export function fromCompletionRequest(body: unknown): ParsedRequest {
  const req = validate(completionRequestSchema, body);
  refuseUnsupported(req.n != null && req.n !== 1, "n", "Only n=1 is supported: send one request per choice.");
  refuseUnsupported(
    Array.isArray(req.prompt) && req.prompt.length > 1,
    "prompt",
    "Only one prompt per request is supported: send one request per prompt.",
  );
  refuseUnsupported(req.echo === true, "echo", "echo is not supported by this server.");
  refuseUnsupported(
    req.suffix != null && req.suffix !== "",
    "suffix",
    "suffix is not supported by this server.",
  );
  refuseUnsupported(req.best_of != null && req.best_of !== 1, "best_of", "Only best_of=1 is supported.");
  refuseUnsupported(req.logprobs != null, "logprobs", "logprobs is not supported yet by this server.");
  refuseUnsupported(req.response_format != null, "response_format", "response_format is not supported yet.");
  const text = Array.isArray(req.prompt) ? req.prompt[0] : req.prompt;
  return {
    model: req.model,
    prompt: { kind: "text", text },
    sampling: toSampling(req, req.max_tokens ?? undefined),
    stream: req.stream === true,
    includeUsage: req.stream_options?.include_usage === true,
  };
}

function toSampling(
  req: ChatRequestBody | CompletionRequestBody,
  maxTokens: number | undefined,
): SamplingParams {
  const d = DEFAULT_SAMPLING;
  return {
    temperature: req.temperature ?? d.temperature,
    topP: req.top_p ?? d.topP,
    topK: req.top_k ?? d.topK,
    minP: req.min_p ?? d.minP,
    seed: req.seed ?? undefined,
    repetitionPenalty: req.repetition_penalty ?? d.repetitionPenalty,
    presencePenalty: req.presence_penalty ?? d.presencePenalty,
    frequencyPenalty: req.frequency_penalty ?? d.frequencyPenalty,
    maxTokens,
    stop: req.stop == null ? [] : (Array.isArray(req.stop) ? req.stop : [req.stop]).filter((s) => s !== ""),
    ignoreEos: req.ignore_eos ?? d.ignoreEos,
  };
}

function toChatMessage(message: ChatMessageBody, index: number): ChatMessage {
  const param = `messages[${index}]`;
  refuseUnsupported(
    message.tool_calls !== undefined && message.tool_calls.length > 0,
    `${param}.tool_calls`,
    "Tool calls in the history are not supported yet by this server.",
  );
  const role = message.role === "developer" ? "system" : message.role;
  const { content } = message;
  if (content == null) {
    if (role === "assistant") return { role, content: "" };
    throw new InvalidRequestError(
      `${param}.content is required for role '${message.role}'.`,
      `${param}.content`,
    );
  }
  if (typeof content === "string") return { role, content };
  const texts = content.map((part, j) => {
    if (part.type !== "text" || typeof part.text !== "string") {
      throw new InvalidRequestError(
        `Only text content parts are supported; this model cannot read a '${part.type}' part.`,
        `${param}.content[${j}]`,
      );
    }
    return part.text;
  });
  return { role, content: texts.join("\n") };
}

function refuseUnsupported(condition: boolean, param: string, message: string): void {
  if (condition) throw new InvalidRequestError(message, param, "unsupported_parameter");
}

function validate<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new InvalidRequestError("The request body must be a JSON object.", null, "invalid_json");
  }
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const param = formatPath(issue.path);
  const message =
    issue.code === "invalid_type" && issue.input === undefined
      ? `Missing required parameter: '${param}'.`
      : `Invalid value for '${param}': ${issue.message}.`;
  throw new InvalidRequestError(
    message,
    param,
    issue.input === undefined ? "missing_required_parameter" : "invalid_value",
  );
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, i) => (typeof part === "number" ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`))
    .join("");
}

// ---- responses ----

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

export function toUsage(usage: Usage) {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens },
  };
}

export function toChatCompletion(meta: ResponseMeta, text: string, finishReason: FinishReason, usage: Usage) {
  return {
    id: meta.id,
    object: "chat.completion" as const,
    created: meta.created,
    model: meta.model,
    choices: [
      {
        index: 0,
        message: { role: "assistant" as const, content: text, refusal: null },
        logprobs: null,
        finish_reason: finishReason,
      },
    ],
    usage: toUsage(usage),
  };
}

/** A streaming chunk; `delta` carries the role on the first chunk only, as OpenAI does. */
export function toChatChunk(
  meta: ResponseMeta,
  delta: { role?: "assistant"; content?: string },
  finishReason: FinishReason | null,
) {
  return {
    id: meta.id,
    object: "chat.completion.chunk" as const,
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  };
}

/** The last chunk when `stream_options.include_usage` is set: no choices, only usage. */
export function toChatUsageChunk(meta: ResponseMeta, usage: Usage) {
  return {
    id: meta.id,
    object: "chat.completion.chunk" as const,
    created: meta.created,
    model: meta.model,
    choices: [],
    usage: toUsage(usage),
  };
}

export function toCompletion(meta: ResponseMeta, text: string, finishReason: FinishReason, usage: Usage) {
  return {
    id: meta.id,
    object: "text_completion" as const,
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason }],
    usage: toUsage(usage),
  };
}

export function toCompletionChunk(meta: ResponseMeta, text: string, finishReason: FinishReason | null) {
  return {
    id: meta.id,
    object: "text_completion" as const,
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason }],
  };
}

export function toCompletionUsageChunk(meta: ResponseMeta, usage: Usage) {
  return {
    id: meta.id,
    object: "text_completion" as const,
    created: meta.created,
    model: meta.model,
    choices: [],
    usage: toUsage(usage),
  };
}
