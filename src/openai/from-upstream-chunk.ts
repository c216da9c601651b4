import { z } from "zod";
import type { FinishReason, GenerateRequest, StreamPart, TokenLogprob, Usage } from "../provider/types.js";

/**
 * Client side, inward: one streamed chunk from an OpenAI-compatible upstream (`chat.completion.chunk`
 * or `text_completion`) to our parts. Parsed with zod, leniently where real servers differ: unknown
 * fields are dropped (llama-server's `timings`, vLLM's `stop_reason`, DeepSeek's `reasoning_content`),
 * null stands for absent everywhere, a tool call fragment may lack its `index`, and usage may come on a
 * last chunk with no choices or on every chunk. A value of the wrong type is a protocol error, never a
 * silently dropped field.
 */

const tokenBytes = z.array(z.number().int().min(0).max(255)).nullish();

const wireLogprob = z.object({
  token: z.string(),
  bytes: tokenBytes,
  logprob: z.number(),
  top_logprobs: z.array(z.object({ token: z.string(), bytes: tokenBytes, logprob: z.number() })).nullish(),
});

const toolCallDelta = z.object({
  /** Missing in some servers' one-piece calls (older Ollama): the position in the list stands in. */
  index: z.number().int().min(0).nullish(),
  /** Sent empty on continuation fragments by some servers (DashScope). */
  id: z.string().nullish(),
  function: z.object({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
});

const wireChoice = z.object({
  delta: z.object({ content: z.string().nullish(), tool_calls: z.array(toolCallDelta).nullish() }).nullish(),
  /** `text_completion` chunks carry their text here instead of in a delta. */
  text: z.string().nullish(),
  finish_reason: z.string().nullish(),
  /** Chat logprobs; a text completion's legacy logprobs object has no `content` and yields none. */
  logprobs: z.object({ content: z.array(wireLogprob).nullish() }).nullish(),
});

const wireUsage = z.object({
  prompt_tokens: z.number().int().min(0).nullish(),
  completion_tokens: z.number().int().min(0).nullish(),
  prompt_tokens_details: z.object({ cached_tokens: z.number().int().min(0).nullish() }).nullish(),
});

/** What we read of a streamed chunk; everything else in it is dropped. */
export const upstreamChunkSchema = z.object({
  model: z.string().nullish(),
  choices: z.array(wireChoice).nullish(),
  usage: wireUsage.nullish(),
});

export type UpstreamChunk = z.infer<typeof upstreamChunkSchema>;
export type UpstreamUsage = z.infer<typeof wireUsage>;

/** One chunk read: its parts in order, and the model, finish reason and usage it named, if any. */
export type ChunkReading =
  | { ok: true; model?: string; parts: StreamPart[]; finishReason?: FinishReason; usage?: Usage }
  /** Not an OpenAI chunk: `problem` says where and why, in our words (nothing the upstream wrote). */
  | { ok: false; problem: string };

export function fromChunk(raw: unknown): ChunkReading {
  const parsed = upstreamChunkSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, problem: describeProblem(parsed.error.issues[0]) };
  const chunk = parsed.data;
  const first = chunk.choices?.[0];
  const reason = first?.finish_reason;
  const usage = chunk.usage ? fromWireUsage(chunk.usage) : undefined;
  return {
    ok: true,
    ...(chunk.model && { model: chunk.model }),
    parts: toParts(first),
    ...(reason && { finishReason: fromWireFinishReason(reason) }),
    ...(usage && { usage }),
  };
}

function describeProblem(issue: z.core.$ZodIssue | undefined): string {
  if (!issue) return "a chunk that is not an OpenAI chunk";
  const path = issue.path
    .map((key, i) => (typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`))
    .join("");
  return `a chunk that is not an OpenAI chunk (${path || "the chunk"}: ${issue.message})`;
}

/** Reasons we have no word for (`content_filter`, vendors' own) end the answer as a plain stop. */
export function fromWireFinishReason(reason: string): FinishReason {
  if (reason === "length") return "length";
  if (reason === "tool_calls" || reason === "function_call") return "tool_calls";
  return "stop";
}

/** A choice as our parts: text (with its logprobs), then tool-call fragments. */
function toParts(choice: z.infer<typeof wireChoice> | undefined): StreamPart[] {
  if (!choice) return [];
  const parts: StreamPart[] = [];
  const text = choice.delta?.content ?? choice.text ?? "";
  const logprobs = choice.logprobs?.content?.map(fromWireLogprob);
  if (text || logprobs?.length)
    parts.push({ type: "text-delta", text, ...(logprobs?.length && { logprobs }) });
  (choice.delta?.tool_calls ?? []).forEach((call, position) => {
    parts.push({
      type: "tool-call-delta",
      index: call.index ?? position,
      ...(call.id && { id: call.id }),
      ...(call.function?.name && { name: call.function.name }),
      argumentsDelta: call.function?.arguments ?? "",
    });
  });
  return parts;
}

function fromWireLogprob(l: z.infer<typeof wireLogprob>): TokenLogprob {
  return {
    token: l.token,
    bytes: l.bytes ?? [...Buffer.from(l.token)],
    logprob: l.logprob,
    top: (l.top_logprobs ?? []).map((t) => ({
      token: t.token,
      bytes: t.bytes ?? [...Buffer.from(t.token)],
      logprob: t.logprob,
    })),
  };
}

/** Usage as ours, or nothing when either count is missing (some servers send partial usage). */
export function fromWireUsage(usage: UpstreamUsage): Usage | undefined {
  if (usage.prompt_tokens == null || usage.completion_tokens == null) return undefined;
  return {
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    cachedTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
  };
}

/**
 * Usage for an upstream that reported none: about 3 characters a token, so cost accounting and key
 * limits stay near the truth.
 */
export function estimateUsage(request: GenerateRequest, text: string): Usage {
  const promptChars =
    request.prompt.kind === "text"
      ? request.prompt.text.length
      : request.prompt.messages.reduce((n, m) => n + m.content.length, 0);
  return {
    promptTokens: Math.ceil(promptChars / 3),
    completionTokens: Math.ceil(text.length / 3),
    cachedTokens: 0,
  };
}
