import type OpenAI from "openai";
import {
  type ChatMessage,
  DEFAULT_SAMPLING,
  type GenerateRequest,
  type SamplingParams,
} from "../provider/types.js";

/**
 * Client side, outward: our GenerateRequest to the body of a streamed `chat.completions` or
 * `completions` request to an OpenAI-compatible upstream.
 */

/** The sampling fields both endpoints share, for a streamed request with usage. */
function commonBody(model: string, request: GenerateRequest) {
  const s = request.sampling;
  return {
    model,
    stream: true as const,
    stream_options: { include_usage: true },
    temperature: s.temperature,
    top_p: s.topP,
    ...(s.maxTokens !== undefined && { max_tokens: s.maxTokens }),
    ...(s.seed !== undefined && { seed: s.seed }),
    ...(s.stop.length > 0 && { stop: s.stop }),
    ...(s.presencePenalty !== 0 && { presence_penalty: s.presencePenalty }),
    ...(s.frequencyPenalty !== 0 && { frequency_penalty: s.frequencyPenalty }),
    // Token ids are the upstream's own vocabulary's: passed through unchanged (docs/routing.md).
    ...(s.logitBias?.length && {
      logit_bias: Object.fromEntries(s.logitBias.map(([id, b]) => [String(id), b])),
    }),
  };
}

/** The body of a streamed `/completions` request for a text prompt. */
export function toCompletionBody(
  model: string,
  request: GenerateRequest,
  text: string,
): OpenAI.CompletionCreateParamsStreaming {
  const logprobs = request.logprobs && { logprobs: request.logprobs.top };
  return { ...commonBody(model, request), ...logprobs, prompt: text };
}

/** The body of a streamed `/chat/completions` request. */
export function toChatBody(
  model: string,
  request: GenerateRequest,
  messages: readonly ChatMessage[],
): OpenAI.ChatCompletionCreateParamsStreaming {
  const format = request.format;
  const tools = request.prompt.kind === "chat" ? request.prompt.tools : undefined;
  const toolChoice = request.toolChoice;
  return {
    ...commonBody(model, request),
    messages: messages.map(toWireMessage),
    ...(tools?.length && {
      tools: tools.map((t) => ({
        type: "function" as const,
        function: {
          name: t.name,
          ...(t.description !== undefined && { description: t.description }),
          ...(t.parameters !== undefined && { parameters: t.parameters as Record<string, unknown> }),
        },
      })),
      ...(toolChoice !== undefined && {
        tool_choice:
          typeof toolChoice === "string"
            ? toolChoice
            : { type: "function" as const, function: { name: toolChoice.name } },
      }),
      ...(request.parallelToolCalls !== undefined && { parallel_tool_calls: request.parallelToolCalls }),
    }),
    ...(format?.kind === "json" && { response_format: { type: "json_object" as const } }),
    ...(format?.kind === "json_schema" && {
      response_format: {
        type: "json_schema" as const,
        json_schema: { name: format.name, schema: format.schema as Record<string, unknown> },
      },
    }),
    ...(request.logprobs && { logprobs: true, top_logprobs: request.logprobs.top }),
  };
}

function toWireMessage(m: ChatMessage): OpenAI.ChatCompletionMessageParam {
  if (m.role === "tool") return { role: "tool", tool_call_id: m.toolCallId ?? "", content: m.content };
  if (m.role === "assistant" && m.toolCalls?.length) {
    return {
      role: "assistant",
      content: m.content || null,
      tool_calls: m.toolCalls.map((c) => ({
        id: c.id,
        type: "function" as const,
        function: { name: c.name, arguments: c.arguments },
      })),
    };
  }
  return { role: m.role, content: m.content } as OpenAI.ChatCompletionMessageParam;
}

/**
 * Our sampling fields that OpenAI's API has no field for, so an upstream is never sent them: one
 * warning for each the client set to something other than our default (a value left at the default
 * is not worth a warning on every request). Upstreams such as vLLM or llama-server would take some of
 * them as extra fields, but a cloud API refuses or ignores unknown ones, so none are sent.
 */
export function unsentSamplingWarnings(sampling: SamplingParams): string[] {
  const unsent: [string, number | boolean, number | boolean][] = [
    ["top_k", sampling.topK, DEFAULT_SAMPLING.topK],
    ["min_p", sampling.minP, DEFAULT_SAMPLING.minP],
    ["repetition_penalty", sampling.repetitionPenalty, DEFAULT_SAMPLING.repetitionPenalty],
    ["ignore_eos", sampling.ignoreEos, DEFAULT_SAMPLING.ignoreEos],
  ];
  return unsent
    .filter(([, value, fallback]) => value !== fallback)
    .map(([field, value]) => `${field}=${value} not sent: the upstream API has no such field`);
}
