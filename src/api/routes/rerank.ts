import { randomUUID } from "node:crypto";
import type { FastifyReply } from "fastify";
import { z } from "zod";
import { type ModelAliases, resolveModelAlias } from "../../config/model-aliases.js";
import { MAX_CONTENT_BYTES } from "../../openai/limits.js";
import { utf8Text } from "../../openai/request-schemas.js";
import {
  ModelLoadFailedError,
  ModelLoadingError,
  ModelNotFoundError,
  RerankNotConfiguredError,
} from "../../provider/errors.js";
import type { RerankProvider } from "../../provider/types.js";
import { validate } from "../validation.js";

/** Documents one request may score (Cohere's and Jina's limit is 1000). */
const MAX_DOCUMENTS = 1000;

const text = utf8Text(MAX_CONTENT_BYTES);

/**
 * The body of `POST /v1/rerank` as llama-server, vLLM, Jina and Cohere take it: a query and documents (texts,
 * or objects with a `text`, as Jina and Cohere also take), `top_n`, and `return_documents` (Jina's; true by
 * default, as Jina and vLLM answer).
 */
export const rerankRequestSchema = z.object({
  model: z.string().optional(),
  query: text.refine((q) => q.trim() !== "", "must not be empty"),
  documents: z
    .array(z.union([text, z.object({ text })]))
    .min(1, "must not be empty")
    .max(MAX_DOCUMENTS),
  top_n: z.number().int().min(1).optional(),
  return_documents: z.boolean().optional(),
});

/**
 * POST /v1/rerank: the documents scored against the query by the reranker (`--rerank-model`), best first.
 * A server without one answers 400 `rerank_not_configured` before reading the body.
 */
export async function serveRerank(
  provider: RerankProvider | undefined,
  body: unknown,
  reply: FastifyReply,
  aliases: ModelAliases,
): Promise<unknown> {
  if (!provider) throw new RerankNotConfiguredError();
  const req = validate(rerankRequestSchema, body);
  const info = provider.info();
  if (!info) throw provider.state === "failed" ? new ModelLoadFailedError() : new ModelLoadingError();
  const model = resolveModelAlias(aliases, req.model);
  if (model !== undefined && model !== "" && model !== info.id)
    throw new ModelNotFoundError(req.model ?? model, { role: "reranking", id: info.id });
  const documents = req.documents.map((d) => (typeof d === "string" ? d : d.text));
  const controller = new AbortController();
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) controller.abort(new Error("client disconnected"));
  });
  const { scores, promptTokens } = await provider.rank(req.query, documents, { signal: controller.signal });
  const results = scores
    .map((score, index) => ({
      index,
      relevance_score: score,
      ...(req.return_documents !== false && { document: { text: documents[index] } }),
    }))
    .sort((a, b) => b.relevance_score - a.relevance_score || a.index - b.index)
    .slice(0, req.top_n ?? documents.length);
  return {
    id: `rerank-${randomUUID().replaceAll("-", "")}`,
    object: "list",
    model: info.id,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    results,
  };
}
