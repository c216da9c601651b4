import type { FastifyInstance } from "fastify";
import { CacheEntryNotFoundError } from "../../provider/errors.js";

/** What the admin routes need of the FAQ cache (src/cache/faq-cache.ts). */
export interface FaqAdmin {
  list(): { key: string; label?: string; bytes: number; created: number; expires?: number; hits: number }[];
  delete(key: string): boolean;
  clear(): number;
}

/**
 * `GET /admin/faq` lists the FAQ cache's answers (no answer text), `DELETE /admin/faq` purges them all and
 * `DELETE /admin/faq/:id` one. They pass the same checks as the API (an API key when keys are set; Host and
 * Origin always), so on a loopback bind without keys anything local may use them, and no other web page.
 */
export function adminRoutes(app: FastifyInstance, faq: FaqAdmin): void {
  app.get("/admin/faq", async () => ({
    object: "list",
    data: faq.list().map((entry) => ({
      id: entry.key,
      object: "faq.entry",
      question: entry.label ?? "",
      created_at: Math.floor(entry.created / 1000),
      expires_at: entry.expires === undefined ? null : Math.floor(entry.expires / 1000),
      hits: entry.hits,
      bytes: entry.bytes,
    })),
  }));
  app.delete("/admin/faq", async () => ({ object: "faq.purge", deleted: faq.clear() }));
  app.delete<{ Params: { id: string } }>("/admin/faq/:id", async (request) => {
    if (!faq.delete(request.params.id)) throw new CacheEntryNotFoundError(request.params.id);
    return { id: request.params.id, object: "faq.entry", deleted: true };
  });
}
