/**
 * The contract every layer shares (with errors.ts and wrapping-provider.ts): the request and stream types
 * every backend speaks. Everything behind api/ uses these, never OpenAI's wire format. This folder imports
 * nothing of ours, so any layer may import it (test/architecture.test.ts checks that no folders import in a circle).
 */

export type Role = "system" | "user" | "assistant" | "tool";

export interface ChatMessage {
  role: Role;
  /** Text content; OpenAI text parts are joined into one string at the edge. "" for a call-only assistant turn. */
  content: string;
  /** Calls an assistant turn made (assistant only). */
  toolCalls?: ToolCall[];
  /** Which call a tool result answers (tool only). */
  toolCallId?: string;
}

/** A JSON Schema document, as sent by the client. */
export type JsonSchema = Record<string, unknown> | boolean;

/** A function the model may call. */
export interface ToolDefinition {
  name: string;
  description?: string;
  /** JSON Schema of the arguments object. Default: any object. */
  parameters?: JsonSchema;
}

/** A call the model made; `arguments` is the JSON text exactly as generated. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/**
 * Which tools the model may call: "auto" (it decides), "none" (answer in text), "required" (at least one
 * call, forced), or one named function (forced).
 */
export type ToolChoice = "auto" | "none" | "required" | { name: string };

/** Constraint on the answer's shape. */
export type ResponseFormat =
  /** Any JSON object. */
  | { kind: "json" }
  /** A JSON document valid against `schema`. */
  | { kind: "json_schema"; name: string; schema: JsonSchema };

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
  /**
   * [token id, bias] pairs added to those tokens' logits, OpenAI's `logit_bias`: -100 bans the token, 100
   * all but forces it. Ids are the serving model's (an upstream's own vocabulary on an upstream route).
   * Default: none.
   */
  logitBias?: readonly [number, number][];
}

/** Tools are part of a chat prompt: the chat template renders them into the system turn. */
export type Prompt =
  | { kind: "chat"; messages: ChatMessage[]; tools?: ToolDefinition[] }
  | { kind: "text"; text: string };

/** Per-request routing controls, read at the HTTP edge from a header or the body's `edgellm` field. */
export interface RoutingHints {
  /** false keeps this request on the machine whatever the route; true cannot override a server-wide ban. */
  allowCloud?: boolean;
}

export interface GenerateRequest {
  /** The model name the client asked for (already resolved to a served model). */
  model: string;
  prompt: Prompt;
  sampling: SamplingParams;
  /** Shape of the answer. Default: free text. */
  format?: ResponseFormat;
  /** Whether and which tools to call; only meaningful with `prompt.tools`. Default "auto". */
  toolChoice?: ToolChoice;
  /** Allow more than one call per turn. Default true. */
  parallelToolCalls?: boolean;
  /** Report each generated token's log-probability and the `top` most likely alternatives (0-20). */
  logprobs?: { top: number };
  /** Per-request routing controls (cloud allowed or not). */
  routing?: RoutingHints;
  /**
   * Per-request answer cache control: "prefer" answers from the FAQ cache (and fills it) even when the server
   * has it off; "bypass" neither reads nor writes any answer cache. Default: the server's settings.
   */
  cache?: CacheMode;
  /**
   * A chat too long for the context: refused (`"error"`, the default) or shortened by dropping its oldest
   * turns (`"truncate"`), never the system messages, the tools or the latest turn. Local model only.
   */
  contextOverflow?: "error" | "truncate";
  /** Most tokens of earlier turns kept (the oldest whole turns go first); 0 or absent: no bound. */
  historyBudget?: number;
}

export type CacheMode = "prefer" | "bypass";

/** "tool_calls": the turn ended after the model called tools. */
export type FinishReason = "stop" | "length" | "tool_calls";

/** One generated token's log-probability (natural log, after sampling transforms). */
export interface TokenLogprob {
  token: string;
  /** The token's UTF-8 bytes (a token may hold part of a character). */
  bytes: number[];
  logprob: number;
  /** The most likely tokens at this position, most likely first. */
  top: { token: string; bytes: number[]; logprob: number }[];
}

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
  /**
   * What the backend could not honour, in a few words each (e.g. an upstream that has no `top_k`);
   * api/ sends them as an `x-edgellm-warning` header. Several meta parts add to the list.
   */
  warnings?: string[];
  /** Earlier turns of a chat dropped to fit the context or the history budget, and the tokens they held. */
  truncated?: { turns: number; tokens: number };
}

/** What every model backend yields, local or upstream. */
export type StreamPart =
  | { type: "meta"; meta: ServingMeta }
  /** `logprobs`, when asked for, covers the tokens completed since the previous text delta. */
  | { type: "text-delta"; text: string; logprobs?: TokenLogprob[] }
  /**
   * Part of tool call number `index`: the first part of a call carries `id` and `name`, later ones
   * fragments of its JSON arguments text.
   */
  | { type: "tool-call-delta"; index: number; id?: string; name?: string; argumentsDelta: string }
  | {
      type: "finish";
      finishReason: FinishReason;
      usage: Usage;
      /** The stop string that ended the answer, when one did (the local engines say; an upstream does not). */
      stopSequence?: string;
    };

export interface ModelInfo {
  id: string;
  /** Unix seconds. */
  created: number;
  ownedBy: string;
  /** In tokens: the upstream's own when it reports one, else the configured or default size. */
  contextSize: number;
  /** For an alias (`--model-alias`): the id of the model it stands for. */
  aliasOf?: string;
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

/** One input to embed: a text, or token ids of the embedding model's vocabulary. */
export type EmbeddingInput = string | readonly number[];

export interface EmbeddingResult {
  /** One unit-length (L2) vector per input, in the inputs' order. */
  vectors: Float32Array[];
  /** Tokens evaluated, all inputs together (special tokens the model adds included). */
  promptTokens: number;
}

/**
 * The embedding model: a second model beside the chat model, with its own lifetime (`serve
 * --embedding-model`). Both engines implement it.
 */
export interface EmbeddingProvider {
  /** Throws EdgeError subclasses for inputs it refuses (too long, a token id outside the vocabulary). */
  embed(inputs: readonly EmbeddingInput[], options: { signal: AbortSignal }): Promise<EmbeddingResult>;
  /** The served embedding model, once it is loaded. */
  info(): EmbeddingModelInfo | undefined;
  /** "loading" until the model is ready. */
  readonly state: "loading" | "ready" | "failed";
}

export interface RerankResult {
  /** One relevance from 0 to 1 per document, in the documents' order. */
  scores: number[];
  /** Tokens evaluated, all pairs together (the template's included). */
  promptTokens: number;
}

/** The reranker (`serve --rerank-model`): scores how well documents answer a query. Both engines implement it. */
export interface RerankProvider {
  /**
   * Throws EdgeError subclasses for inputs it refuses; with `truncate`, a document too long for the context is
   * shortened instead of refused.
   */
  rank(
    query: string,
    documents: readonly string[],
    options: { signal: AbortSignal; truncate?: boolean },
  ): Promise<RerankResult>;
  /** The served reranker, once it is loaded. */
  info(): RerankModelInfo | undefined;
  /** "loading" until the model is ready. */
  readonly state: "loading" | "ready" | "failed";
}

export interface RerankModelInfo extends ModelInfo {
  /** Tokens the query and one document may hold together. */
  maxInputTokens: number;
}

export interface EmbeddingModelInfo extends ModelInfo {
  /** Length of each vector. */
  dimensions: number;
  /** Tokens one input may hold. */
  maxInputTokens: number;
}
