import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { GenerateRequest, ModelProvider, StreamPart } from "./provider/types.js";
import { WrappingProvider } from "./provider/wrapping-provider.js";

/**
 * What the model-server gauges read at scrape time: the scheduler's state, no engine call (see Scheduler's
 * `kvCacheUsage`). Every read is synchronous and in memory, so a scrape never waits on generation.
 */
export interface LoadSource {
  /** Requests waiting for a slot. */
  readonly queueLength: number;
  /** Requests holding a slot. */
  readonly activeSlots: number;
  /** KV cells held by the requests in slots over all the slots' cells, 0 to 1; 0 before the model is loaded. */
  kvCacheUsage(): number;
  /** The KV cache's size in blocks of `blockSize` tokens; undefined until the model is loaded. */
  cacheConfig(): { blockSize: number; blocks: number } | undefined;
}

/**
 * Prometheus metrics, served at GET /metrics. One registry per server so tests can run several servers
 * in one process; each layer records into the Metrics object it is handed.
 */
export class Metrics {
  readonly registry = new Registry();

  constructor() {
    // Process figures (resident memory, CPU, event-loop lag) with the edgellm_ prefix.
    collectDefaultMetrics({ register: this.registry, prefix: "edgellm_" });
  }

  readonly requests = new Counter({
    name: "edgellm_requests_total",
    help: "Generation requests, by endpoint, route and outcome",
    labelNames: ["endpoint", "route", "outcome"] as const,
    registers: [this.registry],
  });

  readonly promptTokens = new Counter({
    name: "edgellm_prompt_tokens_total",
    help: "Prompt tokens received, by route",
    labelNames: ["route"] as const,
    registers: [this.registry],
  });

  readonly completionTokens = new Counter({
    name: "edgellm_completion_tokens_total",
    help: "Completion tokens generated, by route",
    labelNames: ["route"] as const,
    registers: [this.registry],
  });

  readonly cachedPromptTokens = new Counter({
    name: "edgellm_cached_prompt_tokens_total",
    help: "Prompt tokens reused from a slot's KV cache instead of evaluated",
    registers: [this.registry],
  });

  readonly engine = new Gauge({
    name: "edgellm_engine_info",
    help: "The local engine that runs: 1 for its label (llama-server or in-process)",
    labelNames: ["engine"] as const,
    registers: [this.registry],
  });

  readonly promptReuse = new Counter({
    name: "edgellm_prompt_cache_tokens_total",
    help: "Prompt tokens not evaluated, by where their KV state came from: the slot itself, or the RAM prompt cache",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });

  readonly engineRestarts = new Counter({
    name: "edgellm_engine_restarts_total",
    help: "Times the engine's child process (llama-server) died and was restarted",
    registers: [this.registry],
  });

  readonly queueLength = new Gauge({
    name: "edgellm_queue_length",
    help: "Requests waiting for a slot",
    registers: [this.registry],
  });

  readonly activeSlots = new Gauge({
    name: "edgellm_active_slots",
    help: "Slots generating right now",
    registers: [this.registry],
  });

  readonly timeToFirstToken = new Histogram({
    name: "edgellm_time_to_first_token_seconds",
    help: "From request arrival to the first generated text",
    labelNames: ["route"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly timePerToken = new Histogram({
    name: "edgellm_time_per_output_token_seconds",
    help: "Mean time between output tokens of a request, after the first",
    labelNames: ["route"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  /** Per API key, labelled by the key's name (from the key file) or a short hash: never the key. */
  readonly keyRequests = new Counter({
    name: "edgellm_key_requests_total",
    help: "Generation requests admitted, by API key label",
    labelNames: ["key"] as const,
    registers: [this.registry],
  });

  readonly keyTokens = new Counter({
    name: "edgellm_key_tokens_total",
    help: "Prompt and completion tokens used, by API key label",
    labelNames: ["key", "kind"] as const,
    registers: [this.registry],
  });

  readonly keyRateLimited = new Counter({
    name: "edgellm_key_rate_limited_total",
    help: "Requests refused with 429 rate_limit_exceeded, by API key label and limit (rpm, tpd)",
    labelNames: ["key", "limit"] as const,
    registers: [this.registry],
  });

  readonly refusedRequests = new Counter({
    name: "edgellm_refused_requests_total",
    help: "Requests refused before any work: origin_not_allowed, host_not_allowed, invalid_api_key",
    labelNames: ["code"] as const,
    registers: [this.registry],
  });

  readonly responseCache = new Counter({
    name: "edgellm_response_cache_total",
    help: "Response cache lookups, by result",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });

  /** Read by the model-server gauges below; until one is given they read 0. */
  private load?: LoadSource;

  /** Has the model-server gauges read `source` (the scheduler) at every scrape. */
  watchLoad(source: LoadSource): void {
    this.load = source;
  }

  // The Gateway API Inference Extension's model-server protocol (docs/proposals/003-model-server-protocol):
  // its Endpoint Picker scrapes these vLLM names from every replica to pick one. They describe the local
  // model only; requests routed to an upstream are not counted.
  readonly requestsWaiting = this.loadGauge(
    "vllm:num_requests_waiting",
    "Requests waiting for a slot of the local model (as edgellm_queue_length)",
    (load) => load.queueLength,
  );

  readonly requestsRunning = this.loadGauge(
    "vllm:num_requests_running",
    "Requests holding a slot of the local model (as edgellm_active_slots)",
    (load) => load.activeSlots,
  );

  readonly kvCacheUsage = this.loadGauge(
    "vllm:kv_cache_usage_perc",
    "KV cache usage, 0 to 1: cells held by running requests over all cells (a slot's cache kept for prefix reuse after its request ends counts as free, as vLLM counts its cached free blocks)",
    (load) => load.kvCacheUsage(),
  );

  readonly cacheConfig = new Gauge({
    name: "vllm:cache_config_info",
    help: "The KV cache's layout, in its labels (block_size in tokens, num_gpu_blocks); 1 once the model is loaded",
    labelNames: ["block_size", "num_gpu_blocks"] as const,
    registers: [this.registry],
    collect: () => {
      this.cacheConfig.reset();
      const config = this.load?.cacheConfig();
      if (config) this.cacheConfig.set({ block_size: config.blockSize, num_gpu_blocks: config.blocks }, 1);
    },
  });

  private loadGauge(name: string, help: string, read: (load: LoadSource) => number): Gauge {
    const gauge: Gauge = new Gauge({
      name,
      help,
      registers: [this.registry],
      collect: () => gauge.set(this.load ? read(this.load) : 0),
    });
    return gauge;
  }

  /** The hit rate is hit / (hit + miss); requests the FAQ cache does not apply to are not counted. */
  readonly faqCache = new Counter({
    name: "edgellm_faq_cache_lookups_total",
    help: "FAQ answer cache lookups of first-turn questions, by result (hit, miss)",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });

  readonly faqCacheEntries = new Gauge({
    name: "edgellm_faq_cache_entries",
    help: "Answers held by the FAQ cache",
    registers: [this.registry],
  });

  readonly embeddingInputs = new Counter({
    name: "edgellm_embedding_inputs_total",
    help: "Inputs embedded by POST /v1/embeddings",
    registers: [this.registry],
  });

  readonly embeddingTokens = new Counter({
    name: "edgellm_embedding_tokens_total",
    help: "Tokens evaluated for embeddings",
    registers: [this.registry],
  });

  readonly rerankDocuments = new Counter({
    name: "edgellm_rerank_documents_total",
    help: "Documents scored by the reranker (POST /v1/rerank and knowledge-base search)",
    registers: [this.registry],
  });

  readonly rerankTokens = new Counter({
    name: "edgellm_rerank_tokens_total",
    help: "Tokens evaluated by the reranker",
    registers: [this.registry],
  });
}

/**
 * Wraps the outermost provider and records what every request did: outcome, tokens, time to first token
 * and time per output token, labelled by the route it took.
 */
export class MeteredProvider extends WrappingProvider {
  constructor(
    inner: ModelProvider,
    private readonly metrics: Metrics,
  ) {
    super(inner);
  }

  async *stream(request: GenerateRequest, options: { signal: AbortSignal }): AsyncGenerator<StreamPart> {
    const m = this.metrics;
    const endpoint = request.prompt.kind === "chat" ? "chat" : "completions";
    const start = performance.now();
    let route = "local";
    let firstTokenAt: number | undefined;
    let outcome = "aborted";
    try {
      for await (const part of this.inner.stream(request, options)) {
        if (part.type === "meta" && part.meta.route) route = part.meta.route;
        if (part.type === "text-delta" && firstTokenAt === undefined) {
          firstTokenAt = performance.now();
          m.timeToFirstToken.observe({ route }, (firstTokenAt - start) / 1000);
        }
        if (part.type === "finish") {
          outcome = "ok";
          const { usage } = part;
          m.promptTokens.inc({ route }, count(usage.promptTokens));
          m.completionTokens.inc({ route }, count(usage.completionTokens));
          m.cachedPromptTokens.inc(count(usage.cachedTokens));
          if (firstTokenAt !== undefined && usage.completionTokens > 1) {
            m.timePerToken.observe(
              { route },
              (performance.now() - firstTokenAt) / 1000 / (usage.completionTokens - 1),
            );
          }
        }
        yield part;
      }
    } catch (error) {
      outcome = options.signal.aborted ? "aborted" : ((error as { code?: string }).code ?? "error");
      throw error;
    } finally {
      m.requests.inc({ endpoint, route, outcome });
    }
  }
}

/**
 * A token count fit for a counter. prom-client throws on a negative increment, and a bad count from
 * any provider (an upstream's usage, an engine edge case) must cost a metric, never the request.
 */
function count(n: number): number {
  return Number.isFinite(n) && n > 0 ? n : 0;
}
