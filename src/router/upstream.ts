import type OpenAI from "openai";
import { estimateUsage, fromChunk } from "../openai/from-upstream-chunk.js";
import { toChatBody, toCompletionBody, unsentSamplingWarnings } from "../openai/to-upstream-request.js";
import { ModelNotFoundError, UpstreamError } from "../provider/errors.js";
import type {
  FinishReason,
  GenerateRequest,
  ModelInfo,
  ModelProvider,
  StreamPart,
  Usage,
} from "../provider/types.js";
import type { BreakerOptions } from "./breaker.js";
import type { UpstreamConfig } from "./config.js";
import { type ModelCheck, ModelWatch } from "./model-check.js";
import { Replica } from "./replica.js";
import { pickReplica } from "./replicas.js";
import { linked, sleep } from "./signals.js";
import {
  AttemptTimeout,
  toUpstreamError,
  UpstreamProtocolError,
  upstreamContextOverflow,
} from "./upstream-errors.js";

export interface UpstreamOptions {
  breaker?: BreakerOptions;
  /** Called on every failed attempt, with the replica's index, for metrics and the log. */
  onFailure?: (error: UpstreamError, replica: number) => void;
  /** Called when a replica's circuit opens or closes, for metrics and the log. */
  onCircuit?: (replica: number, open: boolean) => void;
  /** Called when what GET /models says about the configured model changes, for the log. */
  onModelCheck?: (check: ModelCheck) => void;
}

/** The context window reported for an upstream that neither configures nor reports one, in tokens. */
const DEFAULT_UPSTREAM_CONTEXT = 32_768;

/**
 * A retry is not sent with less than this much of the wait before fallback left (or a quarter of the
 * first-byte timeout, if less), in ms: it would only time out and count against the replica.
 */
const MIN_ATTEMPT_MS = 1000;

/**
 * An OpenAI-compatible upstream (a cloud API, or a fleet of edgellm / vLLM replicas) as a
 * ModelProvider. Failures before the first generated text are retried with backoff on another
 * replica where there is one, within one overall wait (`fallbackAfterMs`), then thrown as
 * UpstreamError; after it, they end the stream with one.
 */
export class UpstreamProvider implements ModelProvider {
  readonly name: string;
  readonly state = "ready" as const;
  private readonly replicas: Replica[];
  private readonly created = Math.floor(Date.now() / 1000);
  private healthTimer?: NodeJS.Timeout;
  private roundRobin = 0;
  private readonly model: ModelWatch;

  constructor(
    readonly config: UpstreamConfig,
    private readonly options: UpstreamOptions = {},
  ) {
    this.name = config.name;
    this.replicas = config.baseUrls.map(
      (url, i) => new Replica(i, url, config.apiKey, options.breaker ?? {}),
    );
    this.model = new ModelWatch(config, options.onModelCheck);
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

  /** Why requests should not come here for now (it answered 404 for its model), in our words; else undefined. */
  get modelProblem(): string | undefined {
    return this.model.problem;
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
      {
        id: this.name,
        created: this.created,
        ownedBy: "upstream",
        // Configured, else what the upstream says, else a size most hosted models have.
        contextSize: this.config.contextSize ?? this.model.contextSize ?? DEFAULT_UPSTREAM_CONTEXT,
      },
    ];
  }

  resolveModel(name: string | undefined): string {
    if (name === this.name || name === this.config.model) return this.name;
    throw new ModelNotFoundError(name ?? "");
  }

  async *stream(request: GenerateRequest, { signal }: { signal: AbortSignal }): AsyncGenerator<StreamPart> {
    const { retries, retryBackoffMs, firstByteTimeoutMs, fallbackAfterMs } = this.config;
    this.model.recheckIfUnknown();
    const key = affinityKey(request);
    const tried = new Set<number>();
    // One wait for the first text over every attempt and backoff, so retries cannot multiply it.
    const deadline = Date.now() + fallbackAfterMs;
    const worthTrying = Math.min(firstByteTimeoutMs / 4, MIN_ATTEMPT_MS);
    let lastError: UpstreamError | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        const delay = backoffMs(retryBackoffMs, attempt);
        if (deadline - Date.now() - delay < worthTrying) break;
        await sleep(delay, signal);
      }
      const pick = pickReplica(this.replicas, key, tried, this.roundRobin++);
      if (pick === undefined || !this.replicas[pick.index].breaker.tryAcquire()) break;
      const replica = this.replicas[pick.index];
      tried.add(replica.index);
      const budget = Math.max(1, Math.min(firstByteTimeoutMs, deadline - Date.now()));
      const attemptRun = this.attempt(replica, request, signal, budget);
      // Every way out of an attempt gives the breaker a verdict, or releases a half-open probe: a
      // probe left claimed would keep the circuit shut for good.
      let settled = false;
      try {
        let first: IteratorResult<StreamPart>;
        try {
          first = await attemptRun.next();
        } catch (error) {
          // The client left (e.g. while the connection was still being made): nothing to hold
          // against the replica, nor to log as its failure.
          if (signal.aborted) throw signal.reason;
          const failure = this.toUpstreamError(error);
          this.recordFailure(replica, failure);
          settled = true;
          this.model.onFailure(error);
          lastError = failure;
          if (!failure.retryable)
            throw upstreamContextOverflow(this.name, error, [this.config.apiKey]) ?? failure;
          continue;
        }
        if (first.done) return; // aborted by the client before anything came
        const replicaNote =
          this.replicas.length > 1
            ? `replica ${replica.index + 1}/${this.replicas.length}${pick.affinity ? " by affinity" : ""}`
            : undefined;
        const head = first.value;
        const model = head.type === "meta" ? head.meta : {};
        const warnings = unsentSamplingWarnings(request.sampling);
        yield {
          type: "meta",
          meta: {
            route: this.name,
            routeReason: replicaNote,
            ...model,
            ...(warnings.length > 0 && { warnings }),
          },
        };
        if (head.type !== "meta") yield head;
        try {
          yield* attemptRun;
        } catch (error) {
          if (signal.aborted) throw signal.reason;
          const failure = this.toUpstreamError(error, true);
          this.recordFailure(replica, failure);
          settled = true;
          throw failure;
        }
        if (signal.aborted) return;
        this.recordSuccess(replica);
        settled = true;
        return;
      } finally {
        if (!settled) replica.breaker.onAbandon();
      }
    }
    throw (
      lastError ??
      new UpstreamError(this.name, "upstream_unavailable", {
        summary: "no available replica",
        retryable: true,
      })
    );
  }

  /**
   * One request to one replica. The first part it yields is generated text or the finish, so a
   * failure before then can still be retried or fall back. Three timers of its own, each aborting it
   * with an AttemptTimeout: connect, first text (`firstByteMs`), and the gap between chunks after it.
   */
  private async *attempt(
    replica: Replica,
    request: GenerateRequest,
    signal: AbortSignal,
    firstByteMs: number,
  ): AsyncGenerator<StreamPart> {
    const { connectTimeoutMs, idleTimeoutMs } = this.config;
    const timer = new AbortController();
    let timeout: NodeJS.Timeout | undefined;
    const arm = (expiry: AttemptTimeout) => {
      clearTimeout(timeout);
      timeout = setTimeout(() => timer.abort(expiry), expiry.ms);
    };
    const idle = new AttemptTimeout("idle", idleTimeoutMs);
    arm(new AttemptTimeout("first-byte", firstByteMs));
    let started = false;
    replica.outstanding++;
    const both = linked(signal, timer.signal);
    const client = replica.clientFor(connectTimeoutMs, () =>
      timer.abort(new AttemptTimeout("connect", connectTimeoutMs)),
    );
    try {
      const stream = await this.open(client, request, both.signal);
      let text = "";
      let finishReason: FinishReason | undefined;
      let model: string | undefined;
      let usage: Usage | undefined;
      for await (const raw of stream as AsyncIterable<unknown>) {
        const chunk = fromChunk(raw);
        if (!chunk.ok) throw new UpstreamProtocolError(chunk.problem);
        model ??= chunk.model;
        usage = chunk.usage ?? usage;
        finishReason = chunk.finishReason ?? finishReason;
        for (const part of chunk.parts) {
          if (!started) {
            started = true;
            arm(idle); // now, not after the yields: the consumer may take its time to pull the next part
            if (model) yield { type: "meta", meta: { model } };
          }
          if (part.type === "text-delta") text += part.text;
          yield part;
        }
        // Empty chunks (a role, keep-alives) do not stop the first-byte clock: the client has nothing yet.
        if (started) arm(idle);
      }
      // The SDK ends quietly when its signal aborts, so find out why the loop ended.
      if (timer.signal.aborted) throw timer.signal.reason;
      if (signal.aborted) return;
      if (!finishReason) throw new UpstreamProtocolError("the stream ended before a finish reason");
      if (!started && model) yield { type: "meta", meta: { model } };
      yield { type: "finish", finishReason, usage: usage ?? estimateUsage(request, text) };
    } catch (error) {
      if (timer.signal.aborted && !signal.aborted) throw timer.signal.reason;
      throw error;
    } finally {
      clearTimeout(timeout);
      both.dispose();
      replica.outstanding--;
    }
  }

  private open(client: OpenAI, request: GenerateRequest, signal: AbortSignal) {
    const { model } = this.config;
    if (request.prompt.kind === "text")
      return client.completions.create(toCompletionBody(model, request, request.prompt.text), { signal });
    return client.chat.completions.create(toChatBody(model, request, request.prompt.messages), { signal });
  }

  /** Whether the upstream serves its model: GET /models (see ModelWatch). */
  checkModels(): Promise<void> {
    return this.model.check();
  }

  /**
   * Checks every replica now: GET <origin>/health, or <baseUrl>/models where /health is missing; and
   * whether the upstream serves its model.
   */
  async checkHealth(): Promise<void> {
    await Promise.all([
      this.checkModels(),
      ...this.replicas.map((replica) => replica.checkHealth(this.config.apiKey)),
    ]);
  }

  /** Stops health checks and closes idle connections. */
  dispose(): void {
    clearInterval(this.healthTimer);
    this.model.dispose();
    for (const replica of this.replicas) replica.pool.destroy();
  }

  private recordFailure(replica: Replica, failure: UpstreamError): void {
    this.options.onFailure?.(failure, replica.index);
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

  /** Anything thrown talking to this upstream as a typed, sanitized UpstreamError. */
  toUpstreamError(error: unknown, midStream = false): UpstreamError {
    return toUpstreamError(this.name, error, { midStream, secrets: [this.config.apiKey] });
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

/** The delay before retry `attempt` (1, 2...): `baseMs` doubled each time, with jitter, in ms. */
function backoffMs(baseMs: number, attempt: number): number {
  return baseMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
}
