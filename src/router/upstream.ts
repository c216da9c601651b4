import OpenAI from "openai";
import type {
  ChatMessage,
  FinishReason,
  GenerateRequest,
  ModelInfo,
  ModelProvider,
  StreamPart,
  TokenLogprob,
  Usage,
} from "../engine/types.js";
import { ModelNotFoundError } from "../errors.js";
import { type BreakerOptions, CircuitBreaker } from "./breaker.js";
import type { UpstreamConfig } from "./config.js";
import { UpstreamError } from "./errors.js";
import { pickReplica, type ReplicaLoad } from "./replicas.js";

export interface UpstreamOptions {
  breaker?: BreakerOptions;
  /** Called on every failure, for metrics. */
  onFailure?: (error: UpstreamError) => void;
  /** Called when a replica's circuit opens or closes, for metrics. */
  onCircuit?: (replica: number, open: boolean) => void;
}

/** One base URL of an upstream: its own client, circuit breaker, health and load. */
class Replica implements ReplicaLoad {
  readonly client: OpenAI;
  readonly breaker: CircuitBreaker;
  outstanding = 0;
  healthy = true;
  /** Health endpoint that answered last time; undefined until known. */
  healthUrl?: string;

  constructor(
    readonly index: number,
    readonly baseUrl: string,
    apiKey: string | undefined,
    breaker: BreakerOptions,
  ) {
    // Retries and timeouts are ours (only before the first byte), so the SDK's are off.
    this.client = new OpenAI({ baseURL: baseUrl, apiKey: apiKey ?? "none", maxRetries: 0, timeout: 600_000 });
    this.breaker = new CircuitBreaker(breaker);
  }

  get available(): boolean {
    return this.healthy && this.breaker.allowsRequests;
  }
}

type WireLogprob = {
  token: string;
  bytes?: number[] | null;
  logprob: number;
  top_logprobs?: { token: string; bytes?: number[] | null; logprob: number }[];
};

type Chunk = {
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

/**
 * An OpenAI-compatible upstream (a cloud API, or a fleet of edgellm / vLLM replicas) as a
 * ModelProvider. Failures before the first generated text are retried with backoff on another
 * replica where there is one, then thrown as UpstreamError; after it, they end the stream with one.
 */
export class UpstreamProvider implements ModelProvider {
  readonly name: string;
  readonly state = "ready" as const;
  private readonly replicas: Replica[];
  private readonly created = Math.floor(Date.now() / 1000);
  private healthTimer?: NodeJS.Timeout;
  private roundRobin = 0;

  constructor(
    readonly config: UpstreamConfig,
    private readonly options: UpstreamOptions = {},
  ) {
    this.name = config.name;
    this.replicas = config.baseUrls.map(
      (url, i) => new Replica(i, url, config.apiKey, options.breaker ?? {}),
    );
    if (config.healthCheckMs > 0) {
      void this.checkHealth();
      this.healthTimer = setInterval(() => void this.checkHealth(), config.healthCheckMs);
      this.healthTimer.unref();
    }
  }

  /** Whether some replica would take a request now (healthy, circuit not open). */
  get available(): boolean {
    return this.replicas.some((r) => r.available);
  }

  /** Per replica: base URL, health, circuit state and requests in flight; for tests and status pages. */
  get status() {
    return this.replicas.map((r) => ({
      baseUrl: r.baseUrl,
      healthy: r.healthy,
      circuit: r.breaker.state,
      outstanding: r.outstanding,
    }));
  }

  listModels(): ModelInfo[] {
    return [
      { id: this.name, created: this.created, ownedBy: "upstream", contextSize: this.config.contextSize },
    ];
  }

  resolveModel(name: string | undefined): string {
    if (name === this.name || name === this.config.model) return this.name;
    throw new ModelNotFoundError(name ?? "");
  }

  async *stream(request: GenerateRequest, { signal }: { signal: AbortSignal }): AsyncGenerator<StreamPart> {
    const key = affinityKey(request);
    const tried = new Set<number>();
    let lastError: UpstreamError | undefined;
    for (let attempt = 0; attempt <= this.config.retries; attempt++) {
      if (attempt > 0) await backoff(this.config.retryBackoffMs, attempt, signal);
      const pick = pickReplica(this.replicas, key, tried, this.roundRobin++);
      if (pick === undefined || !this.replicas[pick.index].breaker.tryAcquire()) break;
      const replica = this.replicas[pick.index];
      tried.add(replica.index);
      const attemptRun = this.attempt(replica, request, signal);
      let first: IteratorResult<StreamPart>;
      try {
        first = await attemptRun.next();
      } catch (error) {
        const failure = this.toUpstreamError(error);
        this.recordFailure(replica, failure);
        if (signal.aborted) throw signal.reason;
        lastError = failure;
        if (!failure.retryable) throw failure;
        continue;
      }
      if (first.done) {
        replica.breaker.onAbandon(); // aborted by the client before anything came
        return;
      }
      const replicaNote =
        this.replicas.length > 1
          ? `replica ${replica.index + 1}/${this.replicas.length}${pick.affinity ? " by affinity" : ""}`
          : undefined;
      const head = first.value;
      const model = head.type === "meta" ? head.meta : {};
      yield { type: "meta", meta: { route: this.name, routeReason: replicaNote, ...model } };
      if (head.type !== "meta") yield head;
      try {
        yield* attemptRun;
      } catch (error) {
        const failure = this.toUpstreamError(error, true);
        this.recordFailure(replica, failure);
        throw failure;
      }
      this.recordSuccess(replica);
      return;
    }
    throw (
      lastError ??
      new UpstreamError(
        this.name,
        "upstream_unavailable",
        `upstream '${this.name}' has no available replica`,
        {
          retryable: true,
        },
      )
    );
  }

  /**
   * One request to one replica. The first part it yields is generated text or the finish, so a
   * failure before then can still be retried or fall back.
   */
  private async *attempt(
    replica: Replica,
    request: GenerateRequest,
    signal: AbortSignal,
  ): AsyncGenerator<StreamPart> {
    const timer = new AbortController();
    let started = false;
    let timeout: NodeJS.Timeout | undefined;
    const arm = (ms: number, what: string) => {
      clearTimeout(timeout);
      timeout = setTimeout(() => timer.abort(new TimeoutSignal(what, ms)), ms);
    };
    arm(this.config.timeoutMs, "no first token within");
    replica.outstanding++;
    const both = AbortSignal.any([signal, timer.signal]);
    try {
      const stream = await this.open(replica, request, both);
      let text = "";
      let finishReason: FinishReason | undefined;
      let model: string | undefined;
      let usage: Chunk["usage"];
      for await (const chunk of stream as unknown as AsyncIterable<Chunk>) {
        model ??= chunk.model;
        if (chunk.usage) usage = chunk.usage;
        const choice = chunk.choices?.[0];
        if (choice?.finish_reason) finishReason = toFinishReason(choice.finish_reason);
        const parts = toParts(choice);
        for (const part of parts) {
          if (!started) {
            started = true;
            if (model) yield { type: "meta", meta: { model } };
          }
          if (part.type === "text-delta") text += part.text;
          yield part;
        }
        if (started) arm(this.config.idleTimeoutMs, "no chunk for");
      }
      // The SDK ends quietly when its signal aborts, so find out why the loop ended.
      if (timer.signal.aborted) throw timer.signal.reason;
      if (signal.aborted) return;
      if (!finishReason) throw new Error("the stream ended before a finish reason");
      if (!started && model) yield { type: "meta", meta: { model } };
      yield { type: "finish", finishReason, usage: toUsage(usage, request, text) };
    } catch (error) {
      if (timer.signal.aborted && !signal.aborted) throw timer.signal.reason;
      throw error;
    } finally {
      clearTimeout(timeout);
      replica.outstanding--;
    }
  }

  private open(replica: Replica, request: GenerateRequest, signal: AbortSignal) {
    const s = request.sampling;
    const format = request.format;
    const common = {
      model: this.config.model,
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
    if (request.prompt.kind === "text") {
      const logprobs = request.logprobs && { logprobs: request.logprobs.top };
      return replica.client.completions.create(
        { ...common, ...logprobs, prompt: request.prompt.text },
        { signal },
      );
    }
    const { messages, tools } = request.prompt;
    const toolChoice = request.toolChoice;
    return replica.client.chat.completions.create(
      {
        ...common,
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
      },
      { signal },
    );
  }

  /** Checks every replica now: GET <origin>/health, or <baseUrl>/models where /health is missing. */
  async checkHealth(): Promise<void> {
    await Promise.all(
      this.replicas.map(async (replica) => {
        const origin = new URL(replica.baseUrl).origin;
        const candidates = replica.healthUrl
          ? [replica.healthUrl]
          : [`${origin}/health`, `${replica.baseUrl}/models`];
        for (const url of candidates) {
          try {
            const res = await fetch(url, {
              signal: AbortSignal.timeout(2000),
              headers: this.config.apiKey ? { authorization: `Bearer ${this.config.apiKey}` } : {},
            });
            await res.body?.cancel();
            if (res.status === 404 && url.endsWith("/health")) continue;
            replica.healthUrl = url;
            replica.healthy = res.ok;
            return;
          } catch {
            replica.healthy = false;
            return;
          }
        }
        replica.healthy = false;
      }),
    );
  }

  dispose(): void {
    clearInterval(this.healthTimer);
  }

  private recordFailure(replica: Replica, failure: UpstreamError): void {
    this.options.onFailure?.(failure);
    if (!failure.countsAgainstHealth) {
      replica.breaker.onAbandon();
      return;
    }
    const wasOpen = !replica.breaker.allowsRequests;
    replica.breaker.onFailure();
    if (!wasOpen && !replica.breaker.allowsRequests) this.options.onCircuit?.(replica.index, true);
  }

  private recordSuccess(replica: Replica): void {
    const wasClosed = replica.breaker.state === "closed";
    replica.breaker.onSuccess();
    if (!wasClosed) this.options.onCircuit?.(replica.index, false);
  }

  /** Maps anything the SDK or the network throws to a typed UpstreamError. */
  toUpstreamError(error: unknown, midStream = false): UpstreamError {
    if (error instanceof UpstreamError) return error;
    const name = this.name;
    const fail = (
      kind: ConstructorParameters<typeof UpstreamError>[1],
      detail: string,
      retryable: boolean,
      status?: number,
    ) =>
      new UpstreamError(
        name,
        midStream ? "upstream_stream_broken" : kind,
        `upstream '${name}' ${midStream ? "failed mid-stream" : "failed"}: ${truncate(detail)}`,
        { retryable: retryable && !midStream, upstreamStatus: status, cause: error },
      );
    if (error instanceof TimeoutSignal) return fail("upstream_timeout", error.message, true);
    if (error instanceof OpenAI.APIConnectionTimeoutError) return fail("upstream_timeout", "timed out", true);
    if (error instanceof OpenAI.APIConnectionError) {
      const cause = (error.cause as { cause?: { code?: string }; code?: string } | undefined) ?? {};
      const code = cause.code ?? cause.cause?.code;
      return fail("upstream_unreachable", `connection error${code ? ` (${code})` : ""}`, true);
    }
    if (error instanceof OpenAI.APIError) {
      const status = error.status;
      const detail = error.message;
      if (status === 429) return fail("upstream_rate_limited", detail, true, status);
      if (status === 401 || status === 403) return fail("upstream_auth", detail, false, status);
      if (status !== undefined && status >= 500) return fail("upstream_server_error", detail, true, status);
      if (status !== undefined) return fail("upstream_bad_request", detail, false, status);
      return fail("upstream_stream_broken", detail, true);
    }
    return fail("upstream_stream_broken", (error as Error)?.message ?? String(error), true);
  }
}

/** Why the attempt's own timer fired. */
class TimeoutSignal extends Error {
  constructor(what: string, ms: number) {
    super(`timed out: ${what} ${ms} ms`);
  }
}

/**
 * The conversation's identity for replica affinity: everything up to and including the first user
 * message, which stays the same as the conversation grows (a replica's prefix cache holds it).
 */
export function affinityKey(request: GenerateRequest): string {
  const { prompt } = request;
  if (prompt.kind === "text") return prompt.text.slice(0, 512);
  const firstUser = prompt.messages.findIndex((m) => m.role === "user");
  const head = prompt.messages.slice(0, firstUser === -1 ? 1 : firstUser + 1);
  return head.map((m) => `${m.role}\u0000${m.content}`).join("\u0001");
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

function toFinishReason(reason: string): FinishReason {
  if (reason === "length") return "length";
  if (reason === "tool_calls" || reason === "function_call") return "tool_calls";
  return "stop";
}

/** A chunk's choice as our parts: text (with its logprobs) and tool-call fragments. */
function toParts(choice: NonNullable<Chunk["choices"]>[number] | undefined): StreamPart[] {
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

function toUsage(usage: Chunk["usage"], request: GenerateRequest, text: string): Usage {
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

async function backoff(baseMs: number, attempt: number, signal: AbortSignal): Promise<void> {
  const ms = baseMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

function truncate(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}
