import cors from "@fastify/cors";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Metrics } from "../../metrics.js";
import {
  clip,
  HostNotAllowedError,
  InvalidApiKeyError,
  OriginNotAllowedError,
} from "../../provider/errors.js";
import type { EmbeddingProvider, ModelProvider, RerankProvider } from "../../provider/types.js";
import { type ApiKey, KeyRing, presentedKey } from "./keys.js";
import {
  type HostPolicy,
  isHostAllowed,
  isOriginAllowed,
  type OriginPolicy,
  originPolicy,
} from "./origins.js";
import {
  KeyLimiter,
  type KeyLimits,
  KeyUsageEmbeddings,
  KeyUsageProvider,
  KeyUsageReranker,
  type UsageStore,
} from "./rate-limits.js";

/** The provider a route uses for a request: one that counts its tokens against the request's key. */
export interface ProviderFor {
  (request: FastifyRequest, provider: ModelProvider): ModelProvider;
  (request: FastifyRequest, provider: EmbeddingProvider): EmbeddingProvider;
  (request: FastifyRequest, provider: RerankProvider): RerankProvider;
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** Served without an API key: /health and the chat page's files. */
    public?: boolean;
    /** A generation route: counted against its key's rate limits. */
    generation?: boolean;
  }
  interface FastifyRequest {
    /** The key the request presented, once checked; null when the server has none. */
    apiKey: ApiKey | null;
  }
}

export interface SecurityOptions {
  /** Web pages allowed to call the API besides the server's own. Default: pages on loopback hosts only. */
  origins?: OriginPolicy;
  /** Names the server answers to; null checks none. Default: loopback names and addresses only. */
  hosts?: HostPolicy | null;
  /** Keys a client must present; none leaves the API open. Default none. */
  keys?: readonly ApiKey[];
  /** Server-wide per-key limits; a key's own override them. Default none. */
  limits?: KeyLimits;
  /** Clock for the rate limits, in ms. Default Date.now. */
  now?: () => number;
  /** Keeps each key's tokens of the day across restarts (the state file). Default: memory only. */
  usageStore?: UsageStore;
  /** GET /metrics answers without a key (scrapers send none): the app registers it public. Default false. */
  publicMetrics?: boolean;
}

/** CORS preflight answers may be cached this long by a browser, in seconds. */
const PREFLIGHT_MAX_AGE_S = 600;

/**
 * The checks every request passes before its body is read, in this order: `Host` (DNS rebinding), `Origin`
 * (other web pages), CORS headers for allowed pages, then the API key and its rate limits. Each refusal is an
 * OpenAI-shaped error from an `onRequest` hook, so a refused request costs no parsing and no generation.
 * Returns the provider a generation route uses for a request, which counts tokens against its key.
 */
export async function installSecurity(
  app: FastifyInstance,
  options: SecurityOptions,
  metrics?: Metrics,
): Promise<ProviderFor> {
  const origins = options.origins ?? originPolicy();
  const hosts = options.hosts === undefined ? { any: false, anyAddress: false, names: [] } : options.hosts;
  const refuse = (request: FastifyRequest, error: Error & { code: string | null }, what: string) => {
    metrics?.refusedRequests.inc({ code: error.code ?? "" });
    request.log.info({ code: error.code, refused: clip(what) }, "request refused");
    return error;
  };

  app.addHook("onRequest", async (request, reply) => {
    // Browsers must never guess a type for an API answer (an error quoting input as HTML, say).
    reply.header("x-content-type-options", "nosniff");
    const host = request.headers.host;
    if (hosts && host !== undefined && !isHostAllowed(hosts, host))
      throw refuse(
        request,
        new HostNotAllowedError(
          `This server does not answer for the host '${clip(host)}'. Use localhost or 127.0.0.1, or list the ` +
            "name with --allowed-hosts.",
        ),
        host,
      );
    const origin = request.headers.origin;
    if (origin !== undefined) {
      if (!isOriginAllowed(origins, origin, host))
        throw refuse(
          request,
          new OriginNotAllowedError(
            origin === "null"
              ? "Requests from an opaque origin (Origin: null, a sandboxed frame or a file:// page) are not allowed."
              : `Requests from web pages at '${clip(origin)}' are not allowed. This server accepts its own ` +
                  "page, pages on localhost, and origins listed with --cors-origins.",
          ),
          origin,
        );
    } else if (
      request.headers["sec-fetch-site"] === "cross-site" &&
      request.headers["sec-fetch-mode"] !== "navigate"
    ) {
      // A browser sends no Origin with a no-cors GET (<script src>, <img src>): the fetch metadata still
      // says another site asked. Following a link from another site stays allowed.
      throw refuse(
        request,
        new OriginNotAllowedError("Cross-site requests from web pages are not allowed."),
        "sec-fetch-site: cross-site",
      );
    }
  });

  // Only allowed origins get this far, so reflecting the origin grants exactly them. A strict preflight
  // check would answer a bare OPTIONS with a text/plain 400; an OPTIONS is harmless.
  await app.register(cors, {
    origin: true,
    strictPreflight: false,
    maxAge: PREFLIGHT_MAX_AGE_S,
    exposedHeaders: [
      "x-edgellm-route",
      "x-edgellm-route-reason",
      "x-edgellm-cache",
      "x-edgellm-tools-ignored",
      "retry-after",
    ],
  });

  const ring = new KeyRing(options.keys ?? []);
  const limiter = new KeyLimiter(options.limits ?? {}, metrics, options.now, options.usageStore);
  app.decorateRequest("apiKey", null);
  if (ring.size > 0) {
    app.addHook("onRequest", async (request) => {
      // A preflight never carries credentials, and the page and /health must load without a key.
      if (request.method === "OPTIONS" || request.routeOptions.config?.public) return;
      const presented = presentedKey(request.headers);
      const key = presented === undefined ? undefined : ring.find(presented);
      if (!key)
        throw refuse(
          request,
          new InvalidApiKeyError(presented === undefined),
          presented === undefined ? "no key" : "unknown key",
        );
      request.apiKey = key;
      if (request.routeOptions.config?.generation) limiter.admit(key);
    });
  }
  return ((request: FastifyRequest, provider: ModelProvider | EmbeddingProvider | RerankProvider) => {
    if (!request.apiKey) return provider;
    if ("embed" in provider) return new KeyUsageEmbeddings(provider, request.apiKey, limiter, metrics);
    if ("rank" in provider) return new KeyUsageReranker(provider, request.apiKey, limiter, metrics);
    return new KeyUsageProvider(provider, request.apiKey, limiter, metrics);
  }) as ProviderFor;
}

/** Marks every route registered inside `app` (a plugin's scope) as served without a key. */
export function markPublic(app: FastifyInstance): void {
  app.addHook("onRoute", (route) => {
    route.config = { ...route.config, public: true };
  });
}
