/**
 * Internal request and stream types. Everything behind api/ speaks these, never OpenAI's wire format.
 */

export type Role = "system" | "user" | "assistant" | "tool";

export interface ChatMessage {
  role: Role;
  /** Text content; OpenAI text parts are joined into one string at the edge. */
  content: string;
}

/** Sampling and stopping parameters, already validated. */
export interface SamplingParams {
  /** 0 means greedy. Default 0.8 (llama-server's). */
  temperature: number;
  /** Nucleus sampling threshold. Default 0.95. */
  topP: number;
  /** Top-k cut; 0 disables it. Default 40. */
  topK: number;
  /** Minimum probability relative to the top token. Default 0.05. */
  minP: number;
  /** RNG seed; same seed, same request, same output. Default: random per request. */
  seed?: number;
  /** Multiplicative repetition penalty; 1 disables it. Default 1. */
  repetitionPenalty: number;
  /** OpenAI presence penalty (-2..2). Default 0. */
  presencePenalty: number;
  /** OpenAI frequency penalty (-2..2). Default 0. */
  frequencyPenalty: number;
  /** Completion token cap; undefined means "until end of generation or the context is full". */
  maxTokens?: number;
  /** Strings that end generation; they are not included in the output. */
  stop: string[];
  /** Keep generating past end-of-generation tokens (benchmarks). Default false. */
  ignoreEos: boolean;
}

export type Prompt = { kind: "chat"; messages: ChatMessage[] } | { kind: "text"; text: string };

export interface GenerateRequest {
  /** The model name the client asked for (already resolved to a served model). */
  model: string;
  prompt: Prompt;
  sampling: SamplingParams;
}

export type FinishReason = "stop" | "length";

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens whose KV state was reused instead of evaluated. */
  cachedTokens: number;
}

/**
 * Facts about how a request is being served, yielded before any text. Layers that wrap a provider
 * (router, response cache) add their own; api/ turns them into headers and a body field.
 */
export interface ServingMeta {
  /** Where the request went: "local" or an upstream's name. */
  route?: string;
  /** Why it went there, in a few words. */
  routeReason?: string;
  /** Response cache outcome. */
  cache?: "hit" | "miss";
  /** The model that actually answered, when it differs from the one resolved at the edge. */
  model?: string;
}

/** What every model backend yields, local or upstream. */
export type StreamPart =
  | { type: "meta"; meta: ServingMeta }
  | { type: "text-delta"; text: string }
  | { type: "finish"; finishReason: FinishReason; usage: Usage };

export interface ModelInfo {
  id: string;
  /** Unix seconds. */
  created: number;
  ownedBy: string;
  contextSize: number;
}

/** The one narrow interface every model backend implements; the router never looks inside. */
export interface ModelProvider {
  /** Throws EdgeError subclasses before the first part for request-level failures. */
  stream(request: GenerateRequest, options: { signal: AbortSignal }): AsyncIterable<StreamPart>;
  listModels(): ModelInfo[];
  /** Resolves a client-supplied model name, or throws ModelNotFoundError. */
  resolveModel(name: string | undefined): string;
  /** "loading" until the model is ready. */
  readonly state: "loading" | "ready" | "failed";
}

export const DEFAULT_SAMPLING: SamplingParams = {
  temperature: 0.8,
  topP: 0.95,
  topK: 40,
  minP: 0.05,
  repetitionPenalty: 1,
  presencePenalty: 0,
  frequencyPenalty: 0,
  stop: [],
  ignoreEos: false,
};
