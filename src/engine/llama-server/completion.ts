import { EventSourceParserStream } from "eventsource-parser/stream";
import { z } from "zod";
import type { SamplingParams } from "../../provider/types.js";
import { toLlamaServerBias } from "../logit-bias.js";

/** How many recent tokens the repetition penalties look at: the in-process engine's window. */
const PENALTY_WINDOW = 64;

/** The fields of a streamed chunk edgellm reads; the final chunk asks for no more (response_fields). */
const RESPONSE_FIELDS = ["content", "tokens", "stop", "stop_type", "timings", "completion_probabilities"];

const probability = z.object({ id: z.number().int(), prob: z.number() });

/** One `data:` event of llama-server's streamed `/completion`. */
const completionChunk = z.object({
  /** Text of whole characters: a token that ends inside a UTF-8 character is held back and sent with the next. */
  content: z.string().optional(),
  /**
   * The id of the token this chunk reports. A token held back for an incomplete character is never reported by
   * id (llama-server's send_partial_response sends only the current token), so ids can have gaps.
   */
  tokens: z.array(z.number().int()).optional(),
  /** Tokens generated so far, counting those not reported by id. */
  tokens_predicted: z.number().int().optional(),
  stop: z.boolean().optional(),
  /** "eos", "limit" (n_predict reached), "word" (a stop string: we send none), "none". */
  stop_type: z.string().optional(),
  timings: z
    .object({ cache_n: z.number().int(), prompt_n: z.number().int(), predicted_n: z.number() })
    .optional(),
  completion_probabilities: z
    .array(probability.extend({ top_probs: z.array(probability).optional() }))
    .optional(),
  /** An error event (e.g. the slot was lost). */
  error: z.object({ message: z.string() }).optional(),
});
export type CompletionChunk = z.infer<typeof completionChunk>;

/** One `data:` payload as a chunk, or undefined when it is not JSON or not a chunk's shape. */
export function parseCompletionChunk(data: string): CompletionChunk | undefined {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return undefined;
  }
  const parsed = completionChunk.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

export interface CompletionRequest {
  promptTokens: readonly number[];
  slot: number;
  sampling: SamplingParams;
  /** Tokens to generate at most. */
  budget: number;
  grammar?: string;
  /** Alternatives per token when logprobs are asked for; undefined for none. */
  topLogprobs?: number;
}

/**
 * The body of llama-server's native `/completion` for one generation. The prompt goes as token ids, so it is
 * evaluated exactly as edgellm tokenized it (user content never becomes control tokens); the slot is the one
 * the scheduler chose, so its cached prefix (or the RAM prompt cache) is reused. Stop strings and tool calls
 * stay edgellm's own, applied to the returned text.
 */
export function completionBody(request: CompletionRequest): Record<string, unknown> {
  const { sampling, grammar } = request;
  return {
    prompt: request.promptTokens,
    id_slot: request.slot,
    cache_prompt: true,
    stream: true,
    return_tokens: true,
    response_fields: RESPONSE_FIELDS,
    n_predict: Number.isFinite(request.budget) ? request.budget : -1,
    temperature: sampling.temperature,
    top_k: sampling.topK,
    top_p: sampling.topP,
    min_p: sampling.minP,
    seed: sampling.seed ?? -1,
    repeat_penalty: sampling.repetitionPenalty,
    repeat_last_n: PENALTY_WINDOW,
    presence_penalty: sampling.presencePenalty,
    frequency_penalty: sampling.frequencyPenalty,
    // A grammar ends only through end of generation, so ignore_eos cannot apply to it.
    ignore_eos: sampling.ignoreEos && grammar === undefined,
    ...(grammar !== undefined ? { grammar } : {}),
    ...(sampling.logitBias?.length ? { logit_bias: toLlamaServerBias(sampling.logitBias) } : {}),
    ...(request.topLogprobs !== undefined
      ? { n_probs: Math.max(1, request.topLogprobs), post_sampling_probs: true }
      : {}),
  };
}

/** `data:` payloads of an SSE body, as they arrive. */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const events = body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  for await (const event of events) if (event.data) yield event.data;
}
