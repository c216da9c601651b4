import type { FastifyReply } from "fastify";
import { type ModelAliases, resolveModelAlias } from "../../config/model-aliases.js";
import {
  checkDimensions,
  embeddingRequestSchema,
  fromEmbeddingRequest,
} from "../../openai/from-embedding-request.js";
import { toEmbeddingResponse } from "../../openai/to-embedding-response.js";
import {
  EmbeddingsNotConfiguredError,
  ModelLoadFailedError,
  ModelLoadingError,
  ModelNotFoundError,
} from "../../provider/errors.js";
import type { EmbeddingProvider } from "../../provider/types.js";
import { validate } from "../validation.js";

/**
 * POST /v1/embeddings. A server without an embedding model answers 400 `embeddings_not_configured` before
 * reading the body, so that whatever a client sends, it learns how to configure one (a 404 would read as an
 * unknown model).
 */
export async function serveEmbeddings(
  provider: EmbeddingProvider | undefined,
  body: unknown,
  reply: FastifyReply,
  aliases: ModelAliases,
): Promise<unknown> {
  if (!provider) throw new EmbeddingsNotConfiguredError();
  const parsed = fromEmbeddingRequest(validate(embeddingRequestSchema(body), body));
  const info = provider.info();
  if (!info) throw provider.state === "failed" ? new ModelLoadFailedError() : new ModelLoadingError();
  const model = resolveModelAlias(aliases, parsed.model);
  if (model !== undefined && model !== "" && model !== info.id)
    throw new ModelNotFoundError(parsed.model ?? model, { role: "embeddings", id: info.id });
  checkDimensions(parsed.dimensions, info.dimensions);
  // A client that goes away stops the work between inputs (in-process) or the engine's request.
  const controller = new AbortController();
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) controller.abort(new Error("client disconnected"));
  });
  const result = await provider.embed(parsed.inputs, { signal: controller.signal });
  return toEmbeddingResponse(result, info.id, parsed.encoding);
}
