import Fastify, { type FastifyInstance } from "fastify";
import type { ModelAliases } from "../config/model-aliases.js";
import type { KnowledgeBase } from "../kb/knowledge-base.js";
import type { Metrics } from "../metrics.js";
import {
  clip,
  InvalidRequestError,
  ModelLoadFailedError,
  ModelLoadingError,
  ResponseNotFoundError,
  ShuttingDownError,
} from "../provider/errors.js";
import type { EmbeddingProvider, ModelInfo, ModelProvider, RerankProvider } from "../provider/types.js";
import { MemoryResponseStore, type ResponseStore } from "../store/response-store.js";
import type { SqliteConversationStore } from "../store/sqlite-conversation-store.js";
import { endpointOf, toErrorResponse, toWireErrorResponse } from "./errors.js";
import { chatFileSearch, FixedAnswerProvider, ground, toCitation } from "./grounding.js";
import { clientErrorHandler, type EdgeLimits, frameworkErrors, notFoundHandler } from "./http-errors.js";
import { DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT_MS } from "./limits.js";
import { ownerOf } from "./owner.js";
import { parseChatRequest, parseCompletionRequest } from "./parse-request.js";
import { adminRoutes, type FaqAdmin } from "./routes/admin.js";
import { serveCompact } from "./routes/compact.js";
import { conversationRoutes } from "./routes/conversations.js";
import { serveEmbeddings } from "./routes/embeddings.js";
import { serveGeneration } from "./routes/generate.js";
import { knowledgeRoutes } from "./routes/knowledge.js";
import { serveCountTokens, serveMessages, type TokenCounter } from "./routes/messages.js";
import { serveRerank } from "./routes/rerank.js";
import { serveResponse, storedFor } from "./routes/responses.js";
import { installSecurity, markPublic, type SecurityOptions } from "./security/guard.js";
import { webPage } from "./static.js";

export interface ServerOptions {
  provider: ModelProvider;
  /** The embedding model behind POST /v1/embeddings. Default: none (the route answers 400 `embeddings_not_configured`). */
  embeddings?: EmbeddingProvider;
  /** The reranker behind POST /v1/rerank. Default: none (the route answers 400 `rerank_not_configured`). */
  reranker?: RerankProvider;
  /**
   * `--model-alias` names, for the embedding model and the reranker (chat routes resolve them through the provider).
   * Default: none.
   */
  modelAliases?: ModelAliases;
  /** Largest accepted request body, in bytes. Default 8 MiB. */
  bodyLimit?: number;
  /**
   * Longest time for a request's headers and body to arrive, in ms, after which it gets 408
   * `request_timeout`; 0 waits forever. It bounds receiving only: a long answer is never cut.
   * Default 30 000.
   */
  bodyTimeoutMs?: number;
  /** Served at GET /metrics in Prometheus text format when given. */
  metrics?: Metrics;
  /** Pino logger options, or false for none. Default false. */
  logger?: boolean | { level: string };
  /** Directory of the built chat page served at `/`, or false for none. Default: dist/web. */
  webRoot?: string | false;
  /**
   * True once graceful shutdown has begun: /health answers 503 `shutting_down` and each response closes its
   * connection. Default: never.
   */
  shuttingDown?: () => boolean;
  /** The local engine that runs, for /health ("llama-server" or "in-process"); undefined while loading. */
  engine?: () => string | undefined;
  /**
   * Origin and Host checks, API keys and per-key limits. Default: pages on loopback origins and the
   * server's own may call it, it answers loopback names only (as a loopback bind should), no key.
   */
  security?: SecurityOptions;
  /** The FAQ cache, listed and purged at /admin/faq. Default: no admin routes. */
  faq?: FaqAdmin;
  /**
   * Where `/v1/responses` keeps answers for `previous_response_id`. Default: in memory, 1000 responses or
   * 64 MiB, each for 1 h.
   */
  responseStore?: ResponseStore;
  /** OpenAI's Conversations API and the Responses `conversation` parameter. Default: none (404). */
  conversations?: SqliteConversationStore;
  /** Files, vector stores and search (`/v1/files`, `/v1/vector_stores`), and `file_search`. Default: none. */
  knowledge?: KnowledgeBase;
  /**
   * Counts a prompt's tokens with the local model, for `/v1/messages/count_tokens`. Default: none (the route
   * estimates 4 bytes a token and says so in a header).
   */
  countTokens?: TokenCounter;
}

/** Node's default wait for a request's headers, in ms. */
const NODE_HEADERS_TIMEOUT_MS = 60_000;

/** Builds the HTTP app: OpenAI-compatible routes in front of a ModelProvider. Not yet listening. */
export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const limits: EdgeLimits = {
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    bodyTimeoutMs: options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
  };
  const timeout = limits.bodyTimeoutMs;
  const app = Fastify({
    // Fastify's request serializer logs method, URL, host and address, never a header: no key reaches the log.
    logger: options.logger ?? false,
    bodyLimit: limits.bodyLimit,
    // Node's requestTimeout covers receiving a request (headers and body), never sending the answer.
    requestTimeout: timeout,
    http: {
      requestTimeout: timeout,
      // Node refuses a headers timeout longer than the request timeout.
      headersTimeout: timeout > 0 ? Math.min(timeout, NODE_HEADERS_TIMEOUT_MS) : NODE_HEADERS_TIMEOUT_MS,
      // Node looks for expired requests this often; its default of 30 s could double a 30 s timeout.
      connectionsCheckingInterval: timeout > 0 ? Math.min(1000, Math.max(50, Math.floor(timeout / 4))) : 1000,
    },
    // close() ends idle keep-alive connections instead of waiting out their timeout: Fastify's default,
    // spelled out because graceful shutdown relies on it.
    forceCloseConnections: "idle",
    clientErrorHandler: clientErrorHandler(limits),
    frameworkErrors: frameworkErrors(limits),
  });
  const { provider, embeddings, reranker } = options;
  const second = [embeddings, reranker].filter((s) => s !== undefined);
  /** Ready when the chat model is, and the embedding model and the reranker too when there are. */
  const state = () =>
    provider.state === "failed" || second.some((s) => s.state === "failed")
      ? "failed"
      : provider.state === "ready" && second.every((s) => s.state === "ready")
        ? "ready"
        : "loading";
  // Each model with what it serves: a file that is both the chat and the embedding model (or the reranker) is
  // one entry with both roles, and the embedding model's dimensions, so a client finds it either way.
  const roled = [
    { service: embeddings, role: "embeddings" },
    { service: reranker, role: "rerank" },
  ] as const;
  type Listed = ModelInfo & { dimensions?: number; roles: string[] };
  const models = (): Listed[] => {
    const all: Listed[] = provider.listModels().map((m) => ({ ...m, roles: ["chat"] }));
    for (const { service, role } of roled) {
      const info = service?.info();
      if (!info) continue;
      const named = [
        info.id,
        ...[...(options.modelAliases ?? [])].filter(([, to]) => to === info.id).map(([f]) => f),
      ];
      for (const id of named) {
        const listed = all.find((m) => m.id === id);
        if (listed)
          Object.assign(
            listed,
            { roles: [...listed.roles, role] },
            "dimensions" in info && { dimensions: info.dimensions },
          );
        else all.push({ ...info, id, ...(id !== info.id && { aliasOf: info.id }), roles: [role] });
      }
    }
    return all;
  };
  const shuttingDown = options.shuttingDown ?? (() => false);
  // While draining, a keep-alive client is sent elsewhere for its next request instead of back to us.
  app.addHook("onRequest", async (_request, reply) => {
    if (shuttingDown()) reply.header("connection", "close");
  });
  // Set before any plugin adds a route: a route keeps the error handler of the moment it was added.
  app.setErrorHandler((error, request, reply) => {
    const response = toWireErrorResponse(error, limits, endpointOf(request.routeOptions.url));
    // 503 (Anthropic's 529 on /v1/messages) is a state, loading or draining, not a fault.
    if (response.status >= 500 && response.status !== 503 && response.status !== 529)
      request.log.error({ err: error }, "request failed");
    return reply.code(response.status).headers(response.headers).send(response.body);
  });
  app.setNotFoundHandler(notFoundHandler(app, limits));

  const providerFor = await installSecurity(app, options.security ?? {}, options.metrics);

  // Every body is read as JSON whatever its content type: `curl -d '{...}'` sends form encoding. A web page
  // could send such a body without a preflight, which is why the Origin check above runs before any parsing.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === "") return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(
        new InvalidRequestError(
          `The request body is not valid JSON: ${clip((error as Error).message, 200)}`,
          null,
          "invalid_json",
        ),
        undefined,
      );
    }
  });

  // The page's files load without a key; the page then asks for one, and only its API calls carry it.
  await app.register(async (scope) => {
    markPublic(scope);
    await scope.register(webPage, { root: options.webRoot });
  });

  app.get("/health", { config: { public: true } }, async (_request, reply) => {
    if (state() === "ready" && !shuttingDown()) return { status: "ok", engine: options.engine?.() };
    const error = shuttingDown()
      ? new ShuttingDownError()
      : state() === "failed"
        ? new ModelLoadFailedError()
        : new ModelLoadingError();
    const response = toErrorResponse(error, limits);
    return reply.code(503).headers(response.headers).send(response.body);
  });

  const { metrics } = options;
  if (metrics) {
    // `--public-metrics`: scrapers send no key, so the route is public like /health.
    const config = { public: options.security?.publicMetrics === true };
    app.get("/metrics", { config }, async (_request, reply) =>
      reply.header("content-type", metrics.registry.contentType).send(await metrics.registry.metrics()),
    );
  }

  if (options.faq) adminRoutes(app, options.faq);
  if (options.knowledge) await knowledgeRoutes(app, options.knowledge);
  if (options.conversations) conversationRoutes(app, options.conversations);

  // One store behind both prefixes: a response made at /v1/responses is found at /responses too.
  const store = options.responseStore ?? new MemoryResponseStore();
  for (const prefix of ["/v1", ""]) {
    app.get(`${prefix}/models`, async () => ({
      object: "list",
      data: models().map((m) => ({
        id: m.id,
        object: "model",
        created: m.created,
        owned_by: m.ownedBy,
        meta: {
          context_size: m.contextSize,
          ...(m.aliasOf && { alias_of: m.aliasOf }),
          ...(m.dimensions && { embedding_dimensions: m.dimensions }),
          roles: m.roles,
        },
      })),
    }));
    app.get<{ Params: { model: string } }>(`${prefix}/models/:model`, async (request) => {
      const asked = request.params.model;
      const all = models();
      // An alias or the embedding model is its own entry; any other name the provider accepts ("local") is
      // the model it names.
      const listed = all.find((info) => info.id === asked);
      const id = listed?.id ?? provider.resolveModel(asked);
      const m = listed ?? all.find((info) => info.id === id);
      return { id, object: "model", created: m?.created, owned_by: m?.ownedBy };
    });
    const generation = { config: { generation: true } };
    app.post(`${prefix}/chat/completions`, generation, async (request, reply) => {
      const parsed = parseChatRequest(request.body);
      const chosen = providerFor(request, provider);
      const search =
        options.knowledge && chatFileSearch(options.knowledge, ownerOf(request), request.body, parsed);
      if (!search) return serveGeneration(chosen, "chat", parsed, request, reply, limits);
      const grounding = await ground(
        options.knowledge as KnowledgeBase,
        ownerOf(request),
        search.messages,
        search.spec,
      );
      const grounded = {
        ...parsed,
        model: search.model,
        prompt: { ...search.prompt, messages: grounding.messages },
      };
      const answering = grounding.notFound ? new FixedAnswerProvider(grounding.notFound, chosen) : chosen;
      return serveGeneration(answering, "chat", grounded, request, reply, limits, {
        citations: grounding.passages.map(toCitation),
      });
    });
    app.post(`${prefix}/completions`, generation, (request, reply) =>
      serveGeneration(
        providerFor(request, provider),
        "text",
        parseCompletionRequest(request.body),
        request,
        reply,
        limits,
      ),
    );
    app.post(`${prefix}/responses`, generation, (request, reply) =>
      serveResponse(
        providerFor(request, provider),
        store,
        request,
        reply,
        limits,
        options.knowledge,
        options.conversations,
        options.countTokens,
      ),
    );
    // Anthropic's Messages API (Claude Code, the Anthropic SDKs): its errors in its own shape (errors.ts).
    app.post(`${prefix}/messages`, generation, (request, reply) =>
      serveMessages(providerFor(request, provider), request, reply, limits, options.countTokens),
    );
    app.post(`${prefix}/messages/count_tokens`, (request, reply) =>
      serveCountTokens(provider, options.countTokens, request, reply),
    );
    app.post(`${prefix}/responses/compact`, generation, (request, reply) =>
      serveCompact(providerFor(request, provider), store, request, reply),
    );
    app.get<{ Params: { id: string } }>(`${prefix}/responses/:id`, async (request) => {
      const stored = storedFor(store, request.params.id, request);
      if (!stored) throw new ResponseNotFoundError(request.params.id, null);
      return stored.response;
    });
    app.delete<{ Params: { id: string } }>(`${prefix}/responses/:id`, async (request) => {
      if (!storedFor(store, request.params.id, request) || !store.delete(request.params.id))
        throw new ResponseNotFoundError(request.params.id, null);
      return { id: request.params.id, object: "response", deleted: true };
    });
    app.post(`${prefix}/embeddings`, generation, (request, reply) =>
      serveEmbeddings(
        embeddings && providerFor(request, embeddings),
        request.body,
        reply,
        options.modelAliases ?? new Map(),
      ),
    );
    app.post(`${prefix}/rerank`, generation, (request, reply) =>
      serveRerank(
        reranker && providerFor(request, reranker),
        request.body,
        reply,
        options.modelAliases ?? new Map(),
      ),
    );
  }
  return app;
}
