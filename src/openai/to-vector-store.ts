import type { ChunkRecord, FileCounts, FileRecord, StoreFileRecord, StoreRecord } from "../store/kb-store.js";

/**
 * Our knowledge-base records as OpenAI's objects (`file`, `vector_store`, `vector_store.file`,
 * `vector_store.files_batch`, search results), pure functions. edgellm adds `filename` and `chunk_count` to a
 * vector store file and `heading_path` and `chunk_index` to each search result and chunk.
 */

export function toFileObject(file: FileRecord) {
  return {
    id: file.id,
    object: "file" as const,
    bytes: file.bytes,
    created_at: file.createdAt,
    expires_at: file.expiresAt,
    filename: file.filename,
    purpose: file.purpose,
    status: "processed" as const,
    status_details: null,
  };
}

export function toStoreObject(
  store: StoreRecord,
  state: { usageBytes: number; counts: FileCounts; status: "in_progress" | "completed" },
) {
  return {
    id: store.id,
    object: "vector_store" as const,
    created_at: store.createdAt,
    name: store.name,
    usage_bytes: state.usageBytes,
    file_counts: state.counts,
    status: state.status,
    expires_after: store.expiresAfter,
    expires_at: store.expiresAfter ? store.lastActiveAt + store.expiresAfter.days * 86_400 : null,
    last_active_at: store.lastActiveAt,
    metadata: store.metadata,
    description: null,
  };
}

/**
 * OpenAI's `last_error.code` is one of three; ours says more, so it goes in the message, which starts with
 * the reason in words.
 */
function toLastError(error: StoreFileRecord["lastError"]) {
  if (!error) return null;
  const code = ["unsupported_file_type", "binary_content", "no_text_layer", "encrypted_file"].includes(
    error.code,
  )
    ? "unsupported_file"
    : ["empty_file", "corrupt_file", "too_large"].includes(error.code)
      ? "invalid_file"
      : "server_error";
  return { code, message: error.message };
}

export function toStoreFileObject(record: StoreFileRecord, filename: string | undefined) {
  return {
    id: record.fileId,
    object: "vector_store.file" as const,
    usage_bytes: record.usageBytes,
    created_at: record.createdAt,
    vector_store_id: record.storeId,
    status: record.status,
    last_error: toLastError(record.lastError),
    chunking_strategy: {
      type: "static" as const,
      static: {
        max_chunk_size_tokens: record.chunking.maxTokens,
        chunk_overlap_tokens: record.chunking.overlapTokens,
      },
    },
    attributes: record.attributes,
    filename: filename ?? null,
    chunk_count: record.chunkCount,
  };
}

export function toBatchObject(
  batch: { id: string; storeId: string; createdAt: number },
  state: { status: string; counts: FileCounts },
) {
  return {
    id: batch.id,
    object: "vector_store.files_batch" as const,
    created_at: batch.createdAt,
    vector_store_id: batch.storeId,
    status: state.status,
    file_counts: state.counts,
  };
}

export function toChunkContent(chunk: ChunkRecord) {
  return {
    type: "text" as const,
    text: chunk.text,
    index: chunk.index,
    heading_path: chunk.headingPath,
    tokens: chunk.tokens,
    ...(chunk.page !== undefined && { page: chunk.page }),
  };
}

export function toSearchResult(hit: {
  chunk: ChunkRecord;
  score: number;
  filename?: string;
  attributes?: Record<string, string | number | boolean>;
}) {
  return {
    file_id: hit.chunk.fileId,
    filename: hit.filename ?? "",
    score: Math.round(hit.score * 10_000) / 10_000,
    attributes: hit.attributes ?? {},
    content: [{ type: "text" as const, text: hit.chunk.text }],
    heading_path: hit.chunk.headingPath,
    chunk_index: hit.chunk.index,
    vector_store_id: hit.chunk.storeId,
  };
}

export function toList<T extends { id: string }>(data: T[], hasMore: boolean) {
  return {
    object: "list" as const,
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: hasMore,
  };
}
