import cors from "@fastify/cors";
import Fastify, { type FastifyInstance } from "fastify";
import type { ModelProvider } from "../engine/types.js";
import { EdgeError, InvalidRequestError, ModelLoadingError, ShuttingDownError } from "../errors.js";
import type { Metrics } from "../metrics.js";
import { toErrorResponse } from "./errors.js";
import { serveGeneration } from "./routes/generate.js";
import { webPage } from "./static.js";
import { fromChatRequest, fromCompletionRequest } from "./translate.js";

export interface ServerOptions {
  provider: ModelProvider;
  /** Largest accepted request body, in bytes. Default 8 MiB. */
  bodyLimit?: number;
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
}

const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;

/** Builds the HTTP app: OpenAI-compatible routes in front of a ModelProvider. Not yet listening. */
export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const limits = { bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT };
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: limits.bodyLimit,
    // close() ends idle keep-alive connections instead of waiting out their timeout: Fastify's default,
    // spelled out because graceful shutdown relies on it.
    forceCloseConnections: "idle",
  });
  const { provider } = options;
  const shuttingDown = options.shuttingDown ?? (() => false);
  // While draining, a keep-alive client is sent elsewhere for its next request instead of back to us.
  app.addHook("onRequest", async (_request, reply) => {
    if (shuttingDown()) reply.header("connection", "close");
  });
  await app.register(cors, { origin: true });

  // Every body is read as JSON whatever its content type: `curl -d '{...}'` sends form encoding.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === "") return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(
        new InvalidRequestError(
          `The request body is not valid JSON: ${(error as Error).message}`,
          null,
          "invalid_json",
        ),
        undefined,
      );
    }
  });

  app.setErrorHandler((error, request, reply) => {
    const response = toErrorResponse(error, limits);
    if (response.status >= 500 && response.status !== 503)
      request.log.error({ err: error }, "request failed");
    return reply.code(response.status).headers(response.headers).send(response.body);
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({
      error: {
        message: `No route for ${request.method} ${request.url}.`,
        type: "invalid_request_error",
        param: null,
        code: "not_found",
      },
    });
  });

  await app.register(webPage, { root: options.webRoot });

  app.get("/health", async (_request, reply) => {
    if (provider.state === "ready" && !shuttingDown()) return { status: "ok" };
    const error = shuttingDown()
      ? new ShuttingDownError()
      : provider.state === "failed"
        ? new EdgeError("The model failed to load; see the server log.", {
            status: 503,
            type: "server_error",
            code: "model_load_failed",
          })
        : new ModelLoadingError();
    const response = toErrorResponse(error, limits);
    return reply.code(503).headers(response.headers).send(response.body);
  });

  const { metrics } = options;
  if (metrics) {
    app.get("/metrics", async (_request, reply) =>
      reply.header("content-type", metrics.registry.contentType).send(await metrics.registry.metrics()),
    );
  }

  for (const prefix of ["/v1", ""]) {
    app.get(`${prefix}/models`, async () => ({
      object: "list",
      data: provider.listModels().map((m) => ({
        id: m.id,
        object: "model",
        created: m.created,
        owned_by: m.ownedBy,
        meta: { context_size: m.contextSize },
      })),
    }));
    app.get<{ Params: { model: string } }>(`${prefix}/models/:model`, async (request) => {
      const id = provider.resolveModel(request.params.model);
      const m = provider.listModels().find((info) => info.id === id);
      return { id, object: "model", created: m?.created, owned_by: m?.ownedBy };
    });
    app.post(`${prefix}/chat/completions`, (request, reply) =>
      serveGeneration(provider, "chat", fromChatRequest(request.body), request, reply, limits),
    );
    app.post(`${prefix}/completions`, (request, reply) =>
      serveGeneration(provider, "text", fromCompletionRequest(request.body), request, reply, limits),
    );
  }
  return app;
}
