import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";

/** Where `vite build` writes the chat page: dist/web, next to the compiled dist/src. */
export const DEFAULT_WEB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../web");

export interface WebPageOptions {
  /** Directory of the built page, or false to serve none. Default {@link DEFAULT_WEB_ROOT}. */
  root?: string | false;
}

/**
 * Serves the chat page at `/`. Only the files present at startup get routes (no wildcard), so every
 * other path, /v1/* included, still reaches the API's JSON 404.
 */
export async function webPage(app: FastifyInstance, options: WebPageOptions): Promise<void> {
  if (options.root === false) return;
  const root = options.root ?? DEFAULT_WEB_ROOT;
  if (!existsSync(path.join(root, "index.html"))) {
    app.get("/", async (_request, reply) =>
      reply
        .type("text/plain; charset=utf-8")
        .send(
          "edgellm is running, but the web page has not been built: run `npm run build`.\n" +
            "The OpenAI-compatible API is at /v1 (e.g. GET /v1/models).\n",
        ),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root,
    wildcard: false,
    index: "index.html",
    // Model output is untrusted: even if sanitizing missed something, no inline script may run.
    setHeaders(reply, filePath) {
      if (filePath.endsWith(".html")) {
        reply.header("cache-control", "no-cache");
        reply.header(
          "content-security-policy",
          "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        );
        reply.header("x-content-type-options", "nosniff");
        reply.header("referrer-policy", "no-referrer");
      } else if (filePath.includes(`${path.sep}assets${path.sep}`)) {
        // Vite puts a content hash in every asset's name.
        reply.header("cache-control", "public, max-age=31536000, immutable");
      }
    },
  });
}
