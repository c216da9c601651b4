import { clip, InvalidRequestError } from "../provider/errors.js";
import {
  type ChatMessage,
  DEFAULT_SAMPLING,
  type GenerateRequest,
  type Prompt,
  type SamplingParams,
  type ToolCall,
} from "../provider/types.js";
import { fromResponseFormat, fromToolRequest } from "./from-tools.js";
import type { ChatMessageBody, ChatRequestBody, CompletionRequestBody } from "./request-schemas.js";

/**
 * Server side, inward: a request body already validated against its schema (api/ does that and reports
 * problems) to our own types. What the body asks for and this server cannot do is refused here, by name.
 */

/** A validated request, before the model name is resolved. */
export interface ParsedRequest {
  model: string | undefined;
  prompt: Prompt;
  sampling: SamplingParams;
  stream: boolean;
  includeUsage: boolean;
  /** Output constraints and extras, passed through to the provider. */
  controls: Pick<
    GenerateRequest,
    "format" | "toolChoice" | "parallelToolCalls" | "logprobs" | "contextOverflow"
  >;
}

export function fromChatRequest(req: ChatRequestBody): ParsedRequest {
  refuseUnsupported(req.n != null && req.n !== 1, "n", "Only n=1 is supported: send one request per choice.");
  refuseUnsupported(
    req.top_logprobs != null && req.logprobs !== true,
    "top_logprobs",
    "top_logprobs requires logprobs: true.",
  );
  // Refused rather than translated: every current client sends tools, and answering a legacy request in
  // the tools shape would leave its caller looking for a `function_call` that never comes.
  for (const legacy of ["functions", "function_call"] as const)
    refuseUnsupported(
      req[legacy] != null,
      legacy,
      `${legacy} is deprecated by OpenAI and not supported here: send ${legacy === "functions" ? "tools" : "tool_choice"} instead.`,
    );
  const messages = req.messages.map(fromMessage);
  const format = fromResponseFormat(req.response_format);
  const { tools, toolChoice, parallelToolCalls } = fromToolRequest(req);
  const sampling = fromSampling(req, req.max_completion_tokens ?? req.max_tokens ?? undefined);
  const forcedCall = toolChoice === "required" || typeof toolChoice === "object";
  refuseStopWithGrammar(sampling, format !== undefined || forcedCall);
  return {
    model: req.model,
    prompt: tools ? { kind: "chat", messages, tools } : { kind: "chat", messages },
    sampling,
    stream: req.stream === true,
    includeUsage: req.stream_options?.include_usage === true,
    controls: {
      format,
      toolChoice,
      parallelToolCalls,
      logprobs: req.logprobs === true ? { top: req.top_logprobs ?? 0 } : undefined,
    },
  };
}

/** A stop string could cut a grammar-constrained document short and have it pass as finished. */
function refuseStopWithGrammar(sampling: SamplingParams, constrained: boolean): void {
  refuseUnsupported(
    constrained && sampling.stop.length > 0,
    "stop",
    "stop cannot be combined with response_format or a forced tool call: a stop string would cut the document.",
  );
}

export function fromCompletionRequest(req: CompletionRequestBody): ParsedRequest {
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
  const text = Array.isArray(req.prompt) ? req.prompt[0] : req.prompt;
  const format = fromResponseFormat(req.response_format);
  const sampling = fromSampling(req, req.max_tokens ?? undefined);
  refuseStopWithGrammar(sampling, format !== undefined);
  return {
    model: req.model,
    prompt: { kind: "text", text },
    sampling,
    stream: req.stream === true,
    includeUsage: req.stream_options?.include_usage === true,
    controls: { format },
  };
}

/** The sampling fields of chat, completions and Responses bodies (a Responses body has no stop or logit_bias). */
export type SamplingBody = Pick<
  ChatRequestBody,
  | "temperature"
  | "top_p"
  | "top_k"
  | "min_p"
  | "seed"
  | "repetition_penalty"
  | "presence_penalty"
  | "frequency_penalty"
  | "ignore_eos"
> &
  Partial<Pick<ChatRequestBody, "stop" | "logit_bias">>;

/** Our sampling parameters from a body's fields, llama-server's defaults for those it leaves out. */
export function fromSampling(req: SamplingBody, maxTokens: number | undefined): SamplingParams {
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
    ...(req.logit_bias && Object.keys(req.logit_bias).length > 0
      ? {
          logitBias: Object.entries(req.logit_bias).map(([id, bias]): [number, number] => [Number(id), bias]),
        }
      : {}),
  };
}

function fromMessage(message: ChatMessageBody, index: number): ChatMessage {
  const param = `messages[${index}]`;
  const role = message.role === "developer" ? "system" : message.role;
  const { content } = message;
  const calls = message.tool_calls ?? [];
  if (calls.length > 0) {
    refuseUnsupported(
      role !== "assistant",
      `${param}.tool_calls`,
      "Only assistant messages carry tool_calls.",
    );
    const toolCalls: ToolCall[] = calls.map((c) => ({
      id: c.id,
      name: c.function.name,
      arguments: c.function.arguments,
    }));
    const text = content == null ? "" : typeof content === "string" ? content : joinText(content, param);
    return { role, content: text, toolCalls };
  }
  if (role === "tool" && content != null) {
    const text = typeof content === "string" ? content : joinText(content, param);
    return message.tool_call_id
      ? { role, content: text, toolCallId: message.tool_call_id }
      : { role, content: text };
  }
  if (content == null) {
    if (role === "assistant") return { role, content: "" };
    throw content === null
      ? new InvalidRequestError(
          `Invalid type for '${param}.content': expected string or array, got null (only assistant content may be null).`,
          `${param}.content`,
          "invalid_type",
        )
      : new InvalidRequestError(
          `Missing required parameter: '${param}.content' (required for role '${message.role}').`,
          `${param}.content`,
          "missing_required_parameter",
        );
  }
  if (typeof content === "string") return { role, content };
  return { role, content: joinText(content, param) };
}

function joinText(
  content: Exclude<ChatMessageBody["content"], string | null | undefined>,
  param: string,
): string {
  const texts = content.map((part, j) => {
    const where = `${param}.content[${j}]`;
    if (part.type !== "text") {
      throw new InvalidRequestError(
        `Invalid value for '${where}': only text parts are supported; this model cannot read '${clip(part.type)}' parts.`,
        where,
      );
    }
    if (typeof part.text !== "string") {
      throw new InvalidRequestError(
        `Missing required parameter: '${where}.text'.`,
        `${where}.text`,
        "missing_required_parameter",
      );
    }
    return part.text;
  });
  return texts.join("\n");
}

function refuseUnsupported(condition: boolean, param: string, message: string): void {
  if (condition) throw new InvalidRequestError(message, param, "unsupported_parameter");
}
