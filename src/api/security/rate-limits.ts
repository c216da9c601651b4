import type { Metrics } from "../../metrics.js";
import { RateLimitExceededError } from "../../provider/errors.js";
import type {
  EmbeddingInput,
  EmbeddingModelInfo,
  EmbeddingProvider,
  EmbeddingResult,
  GenerateRequest,
  ModelProvider,
  RerankModelInfo,
  RerankProvider,
  RerankResult,
  StreamPart,
} from "../../provider/types.js";
import { WrappingProvider } from "../../provider/wrapping-provider.js";
import type { ApiKey } from "./keys.js";

export interface KeyLimits {
  /** Generation requests per key per minute (a sliding window); 0 for no limit. Default 0. */
  rpm?: number;
  /** Prompt plus completion tokens per key per day (until local midnight); 0 for no limit. Default 0. */
  tpd?: number;
}

interface Usage {
  /** Admission times within the last minute, oldest first, in ms. */
  recent: number[];
  day: string;
  tokens: number;
}

const MINUTE_MS = 60_000;

/** Where a KeyLimiter keeps each key's tokens of the day, so that a restart keeps them (src/store/state-db.ts). */
export interface UsageStore {
  keyTokens(label: string, day: string): number;
  setKeyTokens(label: string, day: string, tokens: number): void;
}

/**
 * Per-key requests per minute and tokens per day, kept in memory; tokens per day also in `store` when
 * given, so that a restart does not reset them (the minute window is forgotten). A request is
 * refused once its key has used up a limit; the request that crosses the token limit still finishes, since
 * its length is only known at its end.
 */
export class KeyLimiter {
  private readonly usage = new Map<string, Usage>();

  constructor(
    private readonly defaults: KeyLimits,
    private readonly metrics?: Metrics,
    private readonly now: () => number = Date.now,
    private readonly store?: UsageStore,
  ) {}

  /** Admits one generation request for `key`, or throws RateLimitExceededError (429). */
  admit(key: ApiKey): void {
    const rpm = key.rpm ?? this.defaults.rpm ?? 0;
    const tpd = key.tpd ?? this.defaults.tpd ?? 0;
    const now = this.now();
    const usage = this.usageOf(key, now);
    while (usage.recent.length > 0 && usage.recent[0] <= now - MINUTE_MS) usage.recent.shift();
    if (tpd > 0 && usage.tokens >= tpd) {
      this.metrics?.keyRateLimited.inc({ key: key.label, limit: "tpd" });
      throw new RateLimitExceededError(
        `Rate limit reached for key '${key.label}' on tokens per day: limit ${tpd}, used ${usage.tokens}. ` +
          "The count starts again at midnight (server time).",
        "tokens",
        Math.max(1, Math.ceil((nextMidnight(now) - now) / 1000)),
      );
    }
    if (rpm > 0 && usage.recent.length >= rpm) {
      this.metrics?.keyRateLimited.inc({ key: key.label, limit: "rpm" });
      const wait = usage.recent[usage.recent.length - rpm] + MINUTE_MS - now;
      throw new RateLimitExceededError(
        `Rate limit reached for key '${key.label}' on requests per minute: limit ${rpm}. ` +
          `Retry in ${Math.ceil(wait / 1000)} s.`,
        "requests",
        Math.max(1, Math.ceil(wait / 1000)),
      );
    }
    // Only a limited key needs its times kept; keep no more of them than the limit looks at.
    if (rpm > 0) {
      usage.recent.push(now);
      if (usage.recent.length > rpm) usage.recent.splice(0, usage.recent.length - rpm);
    }
    this.metrics?.keyRequests.inc({ key: key.label });
  }

  /** Counts a finished request's tokens against its key. */
  record(key: ApiKey, tokens: number): void {
    if (!Number.isFinite(tokens) || tokens <= 0) return;
    const usage = this.usageOf(key, this.now());
    usage.tokens += tokens;
    this.store?.setKeyTokens(key.label, usage.day, usage.tokens);
  }

  /** Tokens `key` has used today. */
  tokensToday(key: ApiKey): number {
    return this.usageOf(key, this.now()).tokens;
  }

  private usageOf(key: ApiKey, now: number): Usage {
    const day = dayOf(now);
    let usage = this.usage.get(key.label);
    if (!usage) {
      usage = { recent: [], day, tokens: this.store?.keyTokens(key.label, day) ?? 0 };
      this.usage.set(key.label, usage);
    } else if (usage.day !== day) {
      usage.day = day;
      usage.tokens = this.store?.keyTokens(key.label, day) ?? 0;
    }
    return usage;
  }
}

function dayOf(ms: number): string {
  const date = new Date(ms);
  return `${date.getFullYear()}-${date.getMonth()}-${date.getDate()}`;
}

function nextMidnight(ms: number): number {
  const date = new Date(ms);
  return new Date(date.getFullYear(), date.getMonth(), date.getDate() + 1).getTime();
}

/**
 * Wraps the provider for one request made with `key`: the finish part's usage (prompt plus completion
 * tokens, local or upstream alike) is counted against the key and in its `/metrics` series.
 */
export class KeyUsageProvider extends WrappingProvider {
  constructor(
    inner: ModelProvider,
    private readonly key: ApiKey,
    private readonly limiter: KeyLimiter,
    private readonly metrics?: Metrics,
  ) {
    super(inner);
  }

  async *stream(request: GenerateRequest, options: { signal: AbortSignal }): AsyncGenerator<StreamPart> {
    for await (const part of this.inner.stream(request, options)) {
      if (part.type === "finish") {
        const prompt = count(part.usage.promptTokens);
        const completion = count(part.usage.completionTokens);
        this.limiter.record(this.key, prompt + completion);
        this.metrics?.keyTokens.inc({ key: this.key.label, kind: "prompt" }, prompt);
        this.metrics?.keyTokens.inc({ key: this.key.label, kind: "completion" }, completion);
      }
      yield part;
    }
  }
}

/** What a second model's wrapper needs: the model's state and info, passed through. */
interface SecondModel<Info> {
  readonly state: "loading" | "ready" | "failed";
  info(): Info | undefined;
}

/**
 * The part of a second model (embeddings, reranker) counted against the key that used it: its prompt tokens
 * (there is no completion).
 */
abstract class KeyUsageSecondModel<Info, Inner extends SecondModel<Info>> {
  constructor(
    protected readonly inner: Inner,
    private readonly key: ApiKey,
    private readonly limiter: KeyLimiter,
    private readonly metrics?: Metrics,
  ) {}

  get state() {
    return this.inner.state;
  }

  info(): Info | undefined {
    return this.inner.info();
  }

  protected async counted<T extends { promptTokens: number }>(work: Promise<T>): Promise<T> {
    const result = await work;
    const prompt = count(result.promptTokens);
    this.limiter.record(this.key, prompt);
    this.metrics?.keyTokens.inc({ key: this.key.label, kind: "prompt" }, prompt);
    return result;
  }
}

/** Counts an embedding request's tokens against the key that made it. */
export class KeyUsageEmbeddings
  extends KeyUsageSecondModel<EmbeddingModelInfo, EmbeddingProvider>
  implements EmbeddingProvider
{
  embed(inputs: readonly EmbeddingInput[], options: { signal: AbortSignal }): Promise<EmbeddingResult> {
    return this.counted(this.inner.embed(inputs, options));
  }
}

/** Counts a rerank request's tokens against the key that made it. */
export class KeyUsageReranker
  extends KeyUsageSecondModel<RerankModelInfo, RerankProvider>
  implements RerankProvider
{
  rank(
    query: string,
    documents: readonly string[],
    options: { signal: AbortSignal; truncate?: boolean },
  ): Promise<RerankResult> {
    return this.counted(this.inner.rank(query, documents, options));
  }
}

/** A bad count from any provider must cost a metric, never the request. */
function count(n: number): number {
  return Number.isFinite(n) && n > 0 ? n : 0;
}
