import multipart from "@fastify/multipart";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Filter } from "../../kb/filters.js";
import { AUTO_CHUNKING, type KnowledgeBase } from "../../kb/knowledge-base.js";
import {
  toBatchObject,
  toChunkContent,
  toFileObject,
  toList,
  toSearchResult,
  toStoreFileObject,
  toStoreObject,
} from "../../openai/to-vector-store.js";
import {
  addFileSchema,
  type ChunkingStrategyBody,
  createBatchSchema,
  createStoreSchema,
  FILE_PURPOSES,
  listQuerySchema,
  MAX_FILTER_DEPTH,
  nestingDepth,
  searchSchema,
  updateFileSchema,
  updateStoreSchema,
} from "../../openai/vector-store-schemas.js";
import { InvalidRequestError, UnsupportedFileError } from "../../provider/errors.js";
import type { Chunking, PageQuery, StoreRecord } from "../../store/kb-store.js";
import { ownerOf } from "../owner.js";
import { validate } from "../validation.js";

/**
 * OpenAI's Files and Vector Stores APIs over the knowledge base: `/v1/files` (multipart upload, list,
 * retrieve, content, delete) and `/v1/vector_stores` with its files, file batches and search.
 */
export async function knowledgeRoutes(app: FastifyInstance, kb: KnowledgeBase): Promise<void> {
  await app.register(async (scope) => {
    // Only this scope reads multipart bodies; a file over the limit stops being read at the limit.
    await scope.register(multipart, {
      limits: { fileSize: kb.maxFileBytes, files: 1, fields: 8, parts: 16, fieldSize: 1024 },
      // The name as sent, so that one with a folder in it is refused rather than silently cut to its end.
      preservePath: true,
    });
    for (const prefix of ["/v1", ""]) scope.post(`${prefix}/files`, (request) => upload(kb, request));
  });

  for (const prefix of ["/v1", ""]) {
    const files = `${prefix}/files`;
    app.get(files, async (request) => {
      const query = validate(listQuerySchema, request.query);
      const page = kb.store.listFiles(ownerOf(request), { ...pageOf(query, 10_000), purpose: query.purpose });
      return toList(page.data.map(toFileObject), page.hasMore);
    });
    app.get<{ Params: { id: string } }>(`${files}/:id`, async (request) =>
      toFileObject(kb.file(ownerOf(request), request.params.id)),
    );
    app.get<{ Params: { id: string } }>(`${files}/:id/content`, async (request, reply) => {
      const { file, data } = kb.fileContent(ownerOf(request), request.params.id);
      return reply
        .header("content-type", "application/octet-stream")
        .header("content-disposition", `attachment; filename*=UTF-8''${encodeURIComponent(file.filename)}`)
        .send(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    });
    app.delete<{ Params: { id: string } }>(`${files}/:id`, async (request) => {
      kb.deleteFile(ownerOf(request), request.params.id);
      return { id: request.params.id, object: "file", deleted: true };
    });

    const stores = `${prefix}/vector_stores`;
    const storeObject = (store: StoreRecord) => toStoreObject(store, kb.storeStatus(store));
    app.post(stores, async (request) => {
      const body = validate(createStoreSchema, request.body ?? {});
      return storeObject(
        kb.createStore(ownerOf(request), {
          name: body.name ?? undefined,
          fileIds: body.file_ids ?? undefined,
          chunking: chunkingOf(body.chunking_strategy),
          metadata: body.metadata ?? undefined,
          expiresAfter: body.expires_after,
        }),
      );
    });
    app.get(stores, async (request) => {
      const query = validate(listQuerySchema, request.query);
      const page = kb.store.listStores(ownerOf(request), pageOf(query));
      return toList(page.data.map(storeObject), page.hasMore);
    });
    type StoreParams = { Params: { store: string } };
    app.get<StoreParams>(`${stores}/:store`, async (request) =>
      storeObject(kb.vectorStore(ownerOf(request), request.params.store)),
    );
    app.post<StoreParams>(`${stores}/:store`, async (request) => {
      const body = validate(updateStoreSchema, request.body ?? {});
      return storeObject(
        kb.updateStore(ownerOf(request), request.params.store, {
          name: body.name ?? undefined,
          metadata: body.metadata ?? undefined,
          expiresAfter: body.expires_after,
        }),
      );
    });
    app.delete<StoreParams>(`${stores}/:store`, async (request) => {
      kb.deleteStore(ownerOf(request), request.params.store);
      return { id: request.params.store, object: "vector_store.deleted", deleted: true };
    });

    app.post<StoreParams>(`${stores}/:store/search`, async (request) => {
      const body = request.body as { filters?: unknown } | undefined;
      if (nestingDepth(body?.filters) > MAX_FILTER_DEPTH * 2)
        throw new InvalidRequestError(`filters nest deeper than ${MAX_FILTER_DEPTH} levels.`, "filters");
      const req = validate(searchSchema, body);
      const queries = Array.isArray(req.query) ? req.query : [req.query];
      const hits = await kb.search(ownerOf(request), [request.params.store], queries.join("\n"), {
        maxResults: req.max_num_results ?? 10,
        filters: (req.filters ?? undefined) as Filter | undefined,
        scoreThreshold: req.ranking_options?.score_threshold,
        rerank: req.ranking_options?.ranker !== "none",
        hybrid: req.ranking_options?.hybrid_search && {
          embeddingWeight: req.ranking_options.hybrid_search.embedding_weight,
          textWeight: req.ranking_options.hybrid_search.text_weight,
        },
      });
      return {
        object: "vector_store.search_results.page",
        search_query: queries,
        data: hits.map(toSearchResult),
        has_more: false,
        next_page: null,
      };
    });

    type FileParams = { Params: { store: string; file: string } };
    const storeFiles = `${stores}/:store/files`;
    const storeFileObject = (record: Parameters<typeof toStoreFileObject>[0]) =>
      toStoreFileObject(record, kb.store.getFile(record.fileId)?.filename);
    app.post<StoreParams>(storeFiles, async (request) => {
      const body = validate(addFileSchema, request.body);
      return storeFileObject(
        kb.addFile(ownerOf(request), request.params.store, body.file_id, {
          chunking: chunkingOf(body.chunking_strategy),
          attributes: body.attributes ?? undefined,
        }),
      );
    });
    app.get<StoreParams>(storeFiles, async (request) => {
      const query = validate(listQuerySchema, request.query);
      kb.vectorStore(ownerOf(request), request.params.store);
      const page = kb.store.listStoreFiles(request.params.store, { ...pageOf(query), status: query.filter });
      return toList(page.data.map(storeFileObject), page.hasMore);
    });
    app.get<FileParams>(`${storeFiles}/:file`, async (request) =>
      storeFileObject(kb.storeFile(ownerOf(request), request.params.store, request.params.file)),
    );
    app.post<FileParams>(`${storeFiles}/:file`, async (request) => {
      const body = validate(updateFileSchema, request.body);
      const { store, file } = request.params;
      kb.storeFile(ownerOf(request), store, file);
      kb.store.setAttributes(store, file, body.attributes ?? {});
      return storeFileObject(kb.storeFile(ownerOf(request), store, file));
    });
    app.delete<FileParams>(`${storeFiles}/:file`, async (request) => {
      kb.removeFile(ownerOf(request), request.params.store, request.params.file);
      return { id: request.params.file, object: "vector_store.file.deleted", deleted: true };
    });
    app.get<FileParams>(`${storeFiles}/:file/content`, async (request) => {
      const { store, file } = request.params;
      kb.storeFile(ownerOf(request), store, file);
      return {
        object: "vector_store.file_content.page",
        data: kb.store.chunksOf(store, file).map(toChunkContent),
        has_more: false,
        next_page: null,
      };
    });

    type BatchParams = { Params: { store: string; batch: string } };
    const batches = `${stores}/:store/file_batches`;
    const batchObject = (batch: Parameters<typeof toBatchObject>[0] & { cancelled: boolean }) =>
      toBatchObject(batch, kb.batchStatus(batch));
    app.post<StoreParams>(batches, async (request) => {
      const body = validate(createBatchSchema, request.body);
      const chunking = chunkingOf(body.chunking_strategy);
      const files =
        body.files?.map((f) => ({
          fileId: f.file_id,
          attributes: f.attributes ?? body.attributes ?? undefined,
          chunking: chunkingOf(f.chunking_strategy) ?? chunking,
        })) ??
        (body.file_ids ?? []).map((fileId) => ({
          fileId,
          attributes: body.attributes ?? undefined,
          chunking,
        }));
      return batchObject(kb.createBatch(ownerOf(request), request.params.store, files));
    });
    app.get<BatchParams>(`${batches}/:batch`, async (request) =>
      batchObject(kb.batch(ownerOf(request), request.params.store, request.params.batch)),
    );
    app.post<BatchParams>(`${batches}/:batch/cancel`, async (request) =>
      batchObject(kb.cancelBatch(ownerOf(request), request.params.store, request.params.batch)),
    );
    app.get<BatchParams>(`${batches}/:batch/files`, async (request) => {
      const query = validate(listQuerySchema, request.query);
      const { store, batch } = request.params;
      kb.batch(ownerOf(request), store, batch);
      const page = kb.store.listStoreFiles(store, { ...pageOf(query), status: query.filter, batchId: batch });
      return toList(page.data.map(storeFileObject), page.hasMore);
    });
  }
}

/** OpenAI's list parameters: `limit` (default 20, files up to 10 000), `order` (default desc), cursors. */
function pageOf(
  query: { limit?: number; order?: "asc" | "desc"; after?: string; before?: string },
  max = 100,
): PageQuery {
  return {
    limit: Math.min(query.limit ?? 20, max),
    order: query.order ?? "desc",
    after: query.after,
    before: query.before,
  };
}

function chunkingOf(strategy: ChunkingStrategyBody | null | undefined): Chunking | undefined {
  if (!strategy) return undefined;
  if (strategy.type === "auto") return AUTO_CHUNKING;
  return {
    maxTokens: strategy.static.max_chunk_size_tokens,
    overlapTokens: strategy.static.chunk_overlap_tokens,
  };
}

/** Control characters (C0, DEL, C1: Unicode's Cc) and the line and paragraph separators. */
const CONTROL = /[\p{Cc}\u2028\u2029]/u;

/** A file name as uploaded, refused when it is not a plain name (it is shown, listed and typed back by users). */
export function checkFilename(name: string): string {
  if (name.trim() === "") throw new UnsupportedFileError("The file has no name.");
  if (name.length > 255) throw new UnsupportedFileError("The file name is longer than 255 characters.");
  if (CONTROL.test(name)) throw new UnsupportedFileError("The file name holds control characters.");
  if (/[/\\]/.test(name) || name === "." || name === "..")
    throw new UnsupportedFileError(
      "The file name must be a plain name, without a folder ('/' or '\\') or '..'; send each file of a folder by its own name.",
    );
  return name.normalize("NFC");
}

/** `POST /v1/files`: a multipart form with `purpose` and one `file`. */
async function upload(kb: KnowledgeBase, request: FastifyRequest) {
  if (!request.isMultipart())
    throw new InvalidRequestError(
      "Upload a file as multipart/form-data with the fields 'file' and 'purpose'.",
      "file",
      "invalid_type",
    );
  let purpose: string | undefined;
  let file: { filename: string; data: Buffer } | undefined;
  for await (const part of request.parts()) {
    if (part.type === "field") {
      if (part.fieldname === "purpose") purpose = String(part.value);
      continue;
    }
    if (part.fieldname !== "file" || file) {
      part.file.resume();
      continue;
    }
    const filename = checkFilename(part.filename);
    const data = await part.toBuffer().catch((error: { code?: string }) => {
      if (error.code === "FST_REQ_FILE_TOO_LARGE") throw kb.tooLarge();
      throw error;
    });
    file = { filename, data };
  }
  if (!file)
    throw new InvalidRequestError(
      "Missing required parameter: 'file'.",
      "file",
      "missing_required_parameter",
    );
  if (purpose === undefined)
    throw new InvalidRequestError(
      "Missing required parameter: 'purpose'.",
      "purpose",
      "missing_required_parameter",
    );
  if (!(FILE_PURPOSES as readonly string[]).includes(purpose))
    throw new InvalidRequestError(
      `'purpose' must be one of ${FILE_PURPOSES.map((p) => `'${p}'`).join(", ")}.`,
      "purpose",
      "invalid_value",
    );
  return toFileObject(kb.createFile(ownerOf(request), { filename: file.filename, purpose, data: file.data }));
}
