import { StructuredOutputError } from "../provider/errors.js";
import type {
  ChatMessage,
  GenerateRequest,
  ModelProvider,
  StreamPart,
  TokenLogprob,
  Usage,
} from "../provider/types.js";
import { WrappingProvider } from "../provider/wrapping-provider.js";
import { checkJson } from "./validator.js";

export interface ValidatingProviderOptions {
  /** Extra attempts after an invalid answer, each told what was wrong. Default 2. */
  maxRetries?: number;
  /**
   * Whether `inner` already guarantees the format for this request (e.g. grammar-constrained local
   * decoding); such requests stream through untouched. Default: never.
   */
  enforces?: (request: GenerateRequest) => boolean;
}

/**
 * Structured output for models that cannot be constrained while decoding (any upstream): for requests
 * with a JSON response_format, the answer is buffered, parsed and validated (ajv), and on failure asked
 * for again with the validation error fed back, up to `maxRetries` times; then a StructuredOutputError
 * (502 structured_output_invalid). A valid answer is sent as one text delta, so a streaming client
 * still gets a valid document, just not token by token. An answer cut by max_tokens that starts like a
 * JSON document is passed on with finish_reason "length", as the local engine does, not retried.
 * Token logprobs are kept (on that one delta). A turn that calls tools passes unvalidated, text and
 * calls as they came: the format constrains the final answer, not a call, and a call's arguments are
 * not checked against the tool's parameters either, as OpenAI does not check them outside strict mode;
 * the client that runs the tool validates its arguments.
 */
export class ValidatingProvider extends WrappingProvider {
  private readonly maxRetries: number;
  private readonly enforces: (request: GenerateRequest) => boolean;

  constructor(inner: ModelProvider, options: ValidatingProviderOptions = {}) {
    super(inner);
    this.maxRetries = options.maxRetries ?? 2;
    this.enforces = options.enforces ?? (() => false);
  }

  async *stream(request: GenerateRequest, options: { signal: AbortSignal }): AsyncGenerator<StreamPart> {
    const format = request.format;
    if (!format || this.enforces(request)) {
      yield* this.inner.stream(request, options);
      return;
    }
    const schema = format.kind === "json_schema" ? format.schema : undefined;
    const total: Usage = { promptTokens: 0, completionTokens: 0, cachedTokens: 0 };
    let attempt = request;
    let lastError = "";
    for (let round = 0; round <= this.maxRetries; round++) {
      let text = "";
      const logprobs: TokenLogprob[] = [];
      const calls: StreamPart[] = [];
      let finish: Extract<StreamPart, { type: "finish" }> | undefined;
      for await (const part of this.inner.stream(attempt, options)) {
        if (part.type === "meta") {
          if (round === 0) yield part;
        } else if (part.type === "text-delta") {
          text += part.text;
          if (part.logprobs) logprobs.push(...part.logprobs);
        } else if (part.type === "tool-call-delta") calls.push(part);
        else if (part.type === "finish") finish = part;
      }
      if (!finish) return; // aborted
      total.promptTokens += finish.usage.promptTokens;
      total.completionTokens += finish.usage.completionTokens;
      total.cachedTokens += finish.usage.cachedTokens;
      // A turn that calls tools is not the answer the format constrains: the answer comes after the
      // tool results, in a later request. Its calls pass on as they came (see the class comment).
      const callsTools = calls.length > 0 || finish.finishReason === "tool_calls";
      // A cut answer that starts like a document is passed on as "length", as the local engine does; one
      // that is not JSON from its first character is plain invalid, cut or not.
      const cutDocument = finish.finishReason === "length" && /^\s*[{["]/.test(text);
      const verdict = callsTools || cutDocument ? undefined : checkJson(text, schema);
      if (!verdict || verdict.ok) {
        if (text || logprobs.length > 0)
          yield { type: "text-delta", text, ...(logprobs.length > 0 && { logprobs }) };
        yield* calls;
        yield { type: "finish", finishReason: finish.finishReason, usage: total };
        return;
      }
      lastError = verdict.error;
      attempt = retryRequest(request, text, verdict.error, round + 1);
    }
    throw new StructuredOutputError(
      `The model's answer was not valid after ${this.maxRetries + 1} attempts: ${lastError}`,
    );
  }
}

/** The original request plus the rejected answer and what was wrong with it; a text prompt gets a new seed. */
function retryRequest(
  request: GenerateRequest,
  answer: string,
  error: string,
  round: number,
): GenerateRequest {
  const schema = request.format?.kind === "json_schema" ? request.format.schema : undefined;
  const instruction = `${error} Reply with only a JSON ${schema === undefined ? "object" : "document matching this JSON Schema"}${
    schema === undefined ? "" : `:\n${JSON.stringify(schema)}`
  }`;
  const sampling =
    request.sampling.seed === undefined
      ? request.sampling
      : { ...request.sampling, seed: request.sampling.seed + round };
  if (request.prompt.kind === "text") return { ...request, sampling };
  const feedback: ChatMessage[] = [
    { role: "assistant", content: answer },
    { role: "user", content: instruction },
  ];
  return { ...request, prompt: { ...request.prompt, messages: [...request.prompt.messages, ...feedback] } };
}
