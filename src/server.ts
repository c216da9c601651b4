import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { type AccessInfo, resolveSecurity, type SecuritySources } from "./api/security/config.js";
import { buildServer } from "./api/server.js";
import { FaqCacheProvider } from "./cache/faq-cache.js";
import { CachingProvider } from "./cache/response-cache.js";
import type { EngineChoice } from "./config/engine-settings.js";
import { SETTINGS } from "./config/settings.js";
import { type EnsureResult, ensureLlamaServer } from "./engine/binary/ensure.js";
import { EmbeddingService } from "./engine/embeddings/embedding-service.js";
import { loadEmbeddingModel } from "./engine/embeddings/load-embeddings.js";
import type { SlotEngine } from "./engine/engine-types.js";
import type { EngineLogger } from "./engine/llama-server/child.js";
import { loadReranker } from "./engine/rerank/load-reranker.js";
import { RerankService } from "./engine/rerank/rerank-service.js";
import { loadEngine } from "./engine/select.js";
import { IngestWorker } from "./kb/ingest-pool.js";
import { KnowledgeBase } from "./kb/knowledge-base.js";
import { MeteredProvider, Metrics } from "./metrics.js";
import { ModelLoadingError } from "./provider/errors.js";
import type { ModelProvider, Prompt } from "./provider/types.js";
import { RouterMetrics } from "./router/accounting.js";
import { type RoutingConfig, resolveRoutingConfig } from "./router/config.js";
import { RouterLog, type RouterLogger } from "./router/log.js";
import { Router, type RouterUpstream } from "./router/router.js";
import { UpstreamProvider } from "./router/upstream.js";
import { upstreamEvents } from "./router/upstream-events.js";
import { Scheduler } from "./scheduler/scheduler.js";
import { DrainingProvider } from "./shutdown.js";
import { MemoryEntryStore } from "./store/entry-store.js";
import { SqliteConversationStore } from "./store/sqlite-conversation-store.js";
import { SqliteKbStore } from "./store/sqlite-kb-store.js";
import { StateDb } from "./store/state-db.js";
import { ValidatingProvider } from "./structured/validating-provider.js";

export interface EdgeServerOptions {
  /** Resolves to the GGUF path; called after the port is open so /health answers 503 meanwhile. */
  modelPath: () => Promise<string>;
  /**
   * Resolves to the embedding model's GGUF path, served at POST /v1/embeddings on the chat model's engine;
   * called once the chat model is loaded. Default: none (the route answers 400 `embeddings_not_configured`).
   */
  embeddingModelPath?: () => Promise<string>;
  /**
   * Resolves to the reranker's GGUF path, served at POST /v1/rerank on the chat model's engine and used by
   * knowledge-base search; called once the chat model is loaded. Default: none (the route answers 400
   * `rerank_not_configured`).
   */
  rerankModelPath?: () => Promise<string>;
  /** Interface to bind. Default: `--host`'s (127.0.0.1). */
  host?: string;
  /** TCP port; 0 picks a free one. Default: `--port`'s (8080). */
  port?: number;
  /** Context window per slot, in tokens. Default: `--ctx-size`'s (4096). */
  contextSize?: number;
  /** CPU threads for evaluation. Default: every core. */
  threads?: number;
  /** Parallel slots, decoded together in one batch. Default: `--parallel`'s (4). */
  parallel?: number;
  /** A chat too long for the context: refused or its oldest turns dropped. Default: `--context-overflow`'s (error). */
  contextOverflow?: "error" | "truncate";
  /** Most tokens of a chat's earlier turns. Default: `--history-budget`'s (0: no bound). */
  historyBudget?: number;
  /** Requests allowed to wait for a slot. Default: `--max-queue`'s (64). */
  maxQueue?: number;
  /** Longest wait for a slot, in ms; 0 waits forever. Default: `--queue-timeout`'s (120 s). */
  queueTimeoutMs?: number;
  /** Bytes of deterministic answers kept by the response cache; 0 turns it off. Default: `--cache-size`'s (64 MiB). */
  responseCacheBytes?: number;
  /**
   * Which local engine runs the model: llama.cpp's llama-server as a managed child, node-llama-cpp in this
   * process, or "auto" (llama-server when a binary is found, else in-process). Default: `--engine`'s (auto).
   */
  engine?: EngineChoice;
  /**
   * Finds the llama-server binary (or fetches it), or says why there is none. Default: the one named by
   * `llamaServer`, else a cached `edgellm engine build` / `pull`, never a download.
   */
  findLlamaServer?: () => Promise<EnsureResult>;
  /** A llama-server binary to use (when `findLlamaServer` is not given). */
  llamaServer?: string;
  /** RAM for llama-server's prompt cache (KV states of conversations that lost their slot), in MiB. Default: `--prompt-cache-ram`'s (1024). */
  promptCacheMiB?: number;
  /** Speculative decoding by prompt lookup (in-process engine only). Default false. */
  lookupDecoding?: boolean;
  /** Memory-map the model file instead of reading it. Default false. */
  mmap?: boolean;
  /** Largest request body in bytes. Default 8 MiB. */
  bodyLimit?: number;
  /** Longest time for a request's headers and body to arrive, in ms (then 408); 0 waits forever. Default: `--body-timeout`'s (30 s). */
  bodyTimeoutMs?: number;
  /** Log level for the HTTP log, or false for none. Default false. */
  logLevel?: string | false;
  /** Upstreams and routing policy (src/router/config.ts). Default: local only. */
  routing?: RoutingConfig;
  /**
   * How long `close()` lets requests in flight run on before it cuts them short with 503 `shutting_down`,
   * in ms. Default: `--shutdown-grace`'s (10 s).
   */
  shutdownGraceMs?: number;
  /**
   * API keys, origins, hosts and per-key limits (src/api/security/config.ts). Default: on a loopback `host`
   * no key and loopback pages only; on any other a generated key kept in the edgellm home folder.
   */
  security?: Omit<SecuritySources, "host">;
  /**
   * SQLite file for what survives a restart: the answer caches, the day's cloud spend, per-key token usage
   * (src/store/state-db.ts). One server per file: a second is refused. Default: none, all in memory
   * (`edgellm serve` passes `--state-file`'s default, `$EDGELLM_HOME/state.sqlite`).
   */
  stateFile?: string;
  /** The FAQ answer cache (src/cache/faq-cache.ts). Default: off but for requests that ask `prefer`. */
  faq?: {
    /** Serve every first-turn question from it. Default: `--faq-cache`'s (false). */
    enabled?: boolean;
    /** How long an answer is served, in ms; 0 for ever. Default: `--faq-ttl`'s (1 day). */
    ttlMs?: number;
    /** Bytes of answers kept. Default: `--faq-cache-size`'s (16 MiB). */
    maxBytes?: number;
    /** Keep upstreams' answers too. Default: `--faq-cache-cloud`'s (false). */
    cacheCloud?: boolean;
  };
  /** The knowledge base's bounds (src/kb/knowledge-base.ts). */
  knowledge?: {
    /** Largest file accepted, in bytes. Default: `--kb-max-file-size`'s (50 MiB). */
    maxFileBytes?: number;
    /** Bytes of files and chunks one API key may hold. Default: `--kb-max-storage`'s (2 GiB). */
    maxStorageBytes?: number;
    /** Search results the reranker reorders. Default: `--rerank-candidates`'s (10). */
    rerankCandidates?: number;
  };
}

export interface EdgeServer {
  app: FastifyInstance;
  /** Files, vector stores, ingestion and search. */
  knowledge: KnowledgeBase;
  scheduler: Scheduler;
  metrics: Metrics;
  /** Routes each request to the local model or an upstream. */
  router: Router;
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  /** Who may use the API: key labels, and the generated key of an exposed server (for the access URL). */
  access: AccessInfo;
  /** Settles when the model is loaded (rejects if loading failed). */
  ready: Promise<void>;
  /** The engine that runs once loaded: "llama-server" or "in-process". */
  readonly engine: string | undefined;
  /**
   * Graceful shutdown: at once /health and new requests answer 503 `shutting_down` and queued requests fail;
   * requests in flight get `shutdownGraceMs` to finish before they are cut short; then the port closes and
   * the model is disposed. Calling it again returns the same promise.
   */
  close(): Promise<void>;
  /** The shutdown's steps so far, in order, each with its time once done (for the exit line and a timeout's). */
  readonly shutdownSteps: readonly ShutdownStep[];
}

/** One step of a graceful shutdown: drain, port, load, knowledge, embeddings, reranker, engine, state. */
export interface ShutdownStep {
  name: string;
  /** How long it took; undefined while it runs. */
  ms: number | undefined;
}

/** The steps as the exit line shows them: "drain 2.0 s, port 0.0 s, engine 0.4 s" (a running one: "engine ..."). */
export function describeShutdown(steps: readonly ShutdownStep[]): string {
  return steps
    .map((s) => `${s.name} ${s.ms === undefined ? "..." : `${(s.ms / 1000).toFixed(1)} s`}`)
    .join(", ");
}

/**
 * The composition root: HTTP app, scheduler and local engine. The port opens first and the model loads
 * behind it, so clients see 503 + Retry-After while loading instead of a refused connection.
 */
export async function startEdgeServer(options: EdgeServerOptions): Promise<EdgeServer> {
  const bindHost = options.host ?? SETTINGS.host.default;
  // Before anything starts: a bad key file must stop the server, never leave it open.
  const security = await resolveSecurity({ ...options.security, host: bindHost });
  const metrics = new Metrics();
  // Opened before the port: a file held by another server stops this one with a message naming the setting.
  const state = options.stateFile === undefined ? undefined : new StateDb(options.stateFile);
  const scheduler = new Scheduler({
    maxQueue: options.maxQueue,
    queueTimeoutMs: options.queueTimeoutMs,
    contextOverflow: options.contextOverflow,
    historyBudget: options.historyBudget,
    metrics,
  });
  const cacheBytes = options.responseCacheBytes;
  const responseBytes = cacheBytes ?? SETTINGS.cacheSize.default * 1024 * 1024;
  const local: ModelProvider =
    cacheBytes !== 0
      ? new CachingProvider(scheduler, {
          maxBytes: responseBytes,
          store: state?.entryStore("response", { maxBytes: responseBytes }),
          metrics,
        })
      : scheduler;
  // The router sits outside the response cache (only local answers are cached) and inside the metrics.
  const routing = options.routing ?? resolveRoutingConfig({}, {});
  const routerMetrics = new RouterMetrics(metrics.registry);
  // Writes to the HTTP app's logger once the app is built below (model checks may report before).
  const log = new RouterLog(undefined, routing);
  const upstreams = createUpstreams(routing, { metrics: routerMetrics, log });
  const router = new Router({ local, config: routing, upstreams, metrics: routerMetrics, logger: log });
  if (state) {
    router.budget.persist(state);
    routerMetrics.budgetSpent.set(router.budget.spentToday);
  }
  // Outside the router: a FAQ hit is routed nowhere, and costs no budget.
  const faqBytes = options.faq?.maxBytes ?? SETTINGS.faqCacheSize.default * 1024 * 1024;
  const faq = new FaqCacheProvider(router, {
    ...options.faq,
    store: state?.entryStore("faq", { maxBytes: faqBytes }) ?? new MemoryEntryStore({ maxBytes: faqBytes }),
    metrics,
  });
  // Inside the metrics, so requests refused or cut short by a shutdown are counted with their code.
  const draining = new DrainingProvider(faq);
  const embeddings = options.embeddingModelPath
    ? new EmbeddingService({
        onEmbedded: (inputs, tokens) => {
          metrics.embeddingInputs.inc(inputs);
          metrics.embeddingTokens.inc(tokens);
        },
      })
    : undefined;
  const reranker = options.rerankModelPath
    ? new RerankService((documents, tokens) => {
        metrics.rerankDocuments.inc(documents);
        metrics.rerankTokens.inc(tokens);
      })
    : undefined;
  // Resolved once: the engine and the ingest worker (which counts chunk sizes in the model's tokens) share it.
  let modelPathPromise: Promise<string> | undefined;
  const modelPath = () => {
    modelPathPromise ??= options.modelPath();
    return modelPathPromise;
  };
  // Conversations and stored responses: in the state file (surviving a restart), else in memory.
  const conversationBounds = {
    maxPerOwner: 10_000,
    maxItems: 10_000,
    maxBytes: 64 * 1024 * 1024,
    ttlMs: 30 * 86_400_000,
  };
  const responseBounds = { maxEntries: 10_000, maxBytes: 256 * 1024 * 1024, ttlMs: 30 * 86_400_000 };
  const { conversations, responses: responseStore } = state
    ? {
        conversations: state.conversationStore(conversationBounds),
        responses: state.responseStore(responseBounds),
      }
    : SqliteConversationStore.inMemory(conversationBounds, responseBounds);
  const knowledge = new KnowledgeBase({
    store: state?.kbStore() ?? SqliteKbStore.inMemory(),
    worker: new IngestWorker({ modelPath }),
    embeddings,
    reranker,
    rerankCandidates: options.knowledge?.rerankCandidates ?? SETTINGS.rerankCandidates.default,
    maxFileBytes: options.knowledge?.maxFileBytes ?? SETTINGS.kbMaxFileSize.default * 1024 * 1024,
    maxStorageBytes: options.knowledge?.maxStorageBytes ?? SETTINGS.kbMaxStorage.default * 1024 * 1024,
    interactive: () => scheduler.activeSlots + scheduler.queueLength > 0,
  });
  // The engine once loaded: /v1/messages/count_tokens counts a prompt with its tokenizer and chat template.
  let loadedEngine: SlotEngine | undefined;
  const countTokens = async (prompt: Prompt) => {
    if (!loadedEngine) throw new ModelLoadingError();
    const tokens = await loadedEngine.tokenize(prompt);
    return Array.isArray(tokens) ? tokens.length : tokens.atLeast;
  };
  const app = await buildServer({
    knowledge,
    countTokens,
    provider: new MeteredProvider(draining, metrics),
    embeddings,
    reranker,
    conversations,
    responseStore,
    modelAliases: routing.aliases,
    shuttingDown: () => draining.shuttingDown,
    engine: () => engineKind,
    metrics,
    bodyLimit: options.bodyLimit,
    bodyTimeoutMs: options.bodyTimeoutMs,
    logger: options.logLevel ? { level: options.logLevel } : false,
    security: { ...security.options, usageStore: state },
    faq,
  });
  log.attach(app.log);
  knowledge.log = app.log;
  try {
    await app.listen({ host: bindHost, port: options.port ?? SETTINGS.port.default });
  } catch (error) {
    state?.close();
    throw error;
  }
  const address = app.server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;

  let engineKind: string | undefined;
  let binary: string | undefined;
  const findLlamaServer =
    options.findLlamaServer ?? (() => ensureLlamaServer({ path: options.llamaServer, allowDownload: false }));
  const ready = (async () => {
    try {
      const { engine, kind } = await loadEngine({
        choice: options.engine ?? "auto",
        llamaServer: async () => {
          const found = await findLlamaServer();
          binary = found.binary?.path;
          return found;
        },
        modelPath: await modelPath(),
        contextSize: options.contextSize ?? SETTINGS.ctxSize.default,
        threads: options.threads,
        parallel: options.parallel ?? SETTINGS.parallel.default,
        promptCacheMiB: options.promptCacheMiB ?? SETTINGS.promptCacheRam.default,
        lookupDecoding: options.lookupDecoding,
        mmap: options.mmap,
        logger: engineLogger(app, options.logLevel),
        metrics,
      });
      engineKind = kind;
      scheduler.attach(engine);
      loadedEngine = engine;
    } catch (error) {
      scheduler.fail(error as Error);
      embeddings?.fail(error as Error);
      reranker?.fail(error as Error);
      throw error;
    }
    const secondModel = async (modelPath: () => Promise<string>) => ({
      kind: engineKind as "llama-server" | "in-process",
      binary,
      modelPath: await modelPath(),
      contextSize: options.contextSize ?? SETTINGS.ctxSize.default,
      parallel: options.parallel ?? SETTINGS.parallel.default,
      threads: options.threads,
      mmap: options.mmap,
      logger: engineLogger(app, options.logLevel),
    });
    if (embeddings && options.embeddingModelPath) {
      try {
        embeddings.attach(await loadEmbeddingModel(await secondModel(options.embeddingModelPath)));
      } catch (error) {
        embeddings.fail(error as Error);
        reranker?.fail(error as Error);
        // The chat model is loaded by now: say which of them failed.
        throw new Error(`the embedding model: ${(error as Error).message}`, { cause: error });
      }
    }
    if (reranker && options.rerankModelPath) {
      try {
        reranker.attach(await loadReranker(await secondModel(options.rerankModelPath)));
      } catch (error) {
        reranker.fail(error as Error);
        throw new Error(`the reranker: ${(error as Error).message}`, { cause: error });
      }
    }
  })();
  ready.catch(() => {}); // observed by the caller; never an unhandled rejection
  // Ingestion left in progress by the last run resumes once the model (whose vocabulary sizes chunks) is there.
  ready.then(() => knowledge.start()).catch(() => {});

  let closing: Promise<void> | undefined;
  const shutdownSteps: ShutdownStep[] = [];
  /** Runs one step of the shutdown, recording its name first (so a timeout can say where it stood) and its time. */
  const step = async (name: string, run: () => unknown): Promise<void> => {
    const record: ShutdownStep = { name, ms: undefined };
    shutdownSteps.push(record);
    const start = performance.now();
    await run();
    record.ms = performance.now() - start;
  };
  const shutdown = async () => {
    draining.begin();
    scheduler.drain();
    embeddings?.drain();
    reranker?.drain();
    // The port stays open through the drain. Kubernetes takes a terminating pod out of its Service
    // asynchronously, so connections keep arriving for a moment after SIGTERM: a 503 `shutting_down` with
    // Retry-After (and a failing readiness probe) tells clients and balancers to go elsewhere, where a
    // closed port would refuse them. llama-server and vLLM close at once; we close as soon as the drain ends.
    await step("drain", () =>
      draining.drain(options.shutdownGraceMs ?? SETTINGS.shutdownGrace.default * 1000),
    );
    await step("port", () => closeHttp(app));
    router.dispose();
    await step("load", () => ready.catch(() => {}));
    // Before the state file closes: a file being ingested stays in progress, and the next start resumes it.
    await step("knowledge", () => knowledge.close());
    // Before the chat engine, which frees the llama.cpp backend both use. Requests still in flight are a
    // few evaluations each, so they are waited for rather than cut short.
    if (embeddings) await step("embeddings", () => embeddings.close());
    if (reranker) await step("reranker", () => reranker.close());
    await step("engine", () => scheduler.dispose());
    // Last: answers finished during the drain are still written.
    if (state) await step("state", () => state.close());
  };

  return {
    app,
    knowledge,
    scheduler,
    metrics,
    router,
    url: `http://${host}:${address.port}`,
    access: security.access,
    ready,
    get engine() {
      return engineKind;
    },
    close() {
      closing ??= shutdown();
      return closing;
    },
    shutdownSteps,
  };
}

/**
 * Each configured upstream as the router takes it: an UpstreamProvider reporting its failures, circuit
 * changes and model checks to the router's metrics and log, behind JSON validation with retry (nothing
 * upstream is grammar-constrained). Model checks start at once.
 */
export function createUpstreams(
  routing: RoutingConfig,
  deps: { metrics: RouterMetrics; log: RouterLogger | RouterLog; now?: () => number },
): RouterUpstream[] {
  const log = deps.log instanceof RouterLog ? deps.log : new RouterLog(deps.log, routing);
  return routing.upstreams.map((config) => {
    const upstream = new UpstreamProvider(config, upstreamEvents(config, routing, { ...deps, log }));
    return { upstream, provider: new ValidatingProvider(upstream) };
  });
}

/**
 * Closes the listener and then every connection as soon as its response has ended. Fastify closes the
 * connections idle when it starts closing; one whose response ends a moment later would stay open (and
 * keep `close` waiting) until the client's own keep-alive timeout, so idle ones are swept until it is done.
 */
async function closeHttp(app: FastifyInstance): Promise<void> {
  const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
  try {
    await app.close();
  } finally {
    clearInterval(sweep);
  }
}

/**
 * The engine logs through the HTTP app's logger; with no HTTP log, warnings and errors (a crashed child, a
 * fallback to the in-process engine) still reach stderr.
 */
function engineLogger(app: FastifyInstance, level: string | false | undefined): EngineLogger {
  if (level) return app.log;
  const write = (fields: object, message: string) =>
    process.stderr.write(`edgellm: ${message} ${JSON.stringify(fields)}\n`);
  return { debug() {}, info() {}, warn: write, error: write };
}
