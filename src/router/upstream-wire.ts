import type OpenAI from "openai";
import type {
  ChatMessage,
  FinishReason,
  GenerateRequest,
  StreamPart,
  TokenLogprob,
  Usage,
} from "../provider/types.js";

/**
 * The upstream side of OpenAI's wire format, as pure functions: our GenerateRequest to the body of a
 * streamed `chat.completions` or `completions` request, and the chunks that come back to our parts.
 */

type WireLogprob = {
  token: string;
  bytes?: number[] | null;
  logprob: number;
  top_logprobs?: { token: string; bytes?: number[] | null; logprob: number }[];
};

export type Chunk = {
  model?: string;
  choices?: {
    delta?: {
      content?: string | null;
      tool_calls?: { index: number; id?: string; function?: { name?: string; arguments?: string } }[];
    };
    text?: string;
    finish_reason?: string | null;
    logprobs?: { content?: WireLogprob[] | null } | null;
  }[];
  usage?: {
    prompt_tokens?: number;
    completion_tokens?: number;
    prompt_tokens_details?: { cached_tokens?: number } | null;
  } | null;
};

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

export function toFinishReason(reason: string): FinishReason {
  if (reason === "length") return "length";
  if (reason === "tool_calls" || reason === "function_call") return "tool_calls";
  return "stop";
}

/** A chunk's choice as our parts: text (with its logprobs) and tool-call fragments. */
export function toParts(choice: NonNullable<Chunk["choices"]>[number] | undefined): StreamPart[] {
  if (!choice) return [];
  const parts: StreamPart[] = [];
  const text = choice.delta?.content ?? choice.text ?? "";
  const wire = choice.logprobs?.content;
  const logprobs: TokenLogprob[] | undefined = wire?.map((l) => ({
    token: l.token,
    bytes: l.bytes ?? [...Buffer.from(l.token)],
    logprob: l.logprob,
    top: (l.top_logprobs ?? []).map((t) => ({
      token: t.token,
      bytes: t.bytes ?? [...Buffer.from(t.token)],
      logprob: t.logprob,
    })),
  }));
  if (text || logprobs?.length)
    parts.push({ type: "text-delta", text, ...(logprobs?.length && { logprobs }) });
  for (const call of choice.delta?.tool_calls ?? []) {
    parts.push({
      type: "tool-call-delta",
      index: call.index,
      ...(call.id && { id: call.id }),
      ...(call.function?.name && { name: call.function.name }),
      argumentsDelta: call.function?.arguments ?? "",
    });
  }
  return parts;
}

export function toUsage(usage: Chunk["usage"], request: GenerateRequest, text: string): Usage {
  if (usage?.prompt_tokens !== undefined && usage.completion_tokens !== undefined) {
    return {
      promptTokens: usage.prompt_tokens,
      completionTokens: usage.completion_tokens,
      cachedTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
    };
  }
  // No usage from the upstream: estimate about 3 characters a token, so cost accounting stays near.
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
