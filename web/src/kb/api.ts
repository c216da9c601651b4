import { ApiError, authHeaders, toApiError } from "../api.js";
import type { Chunk, SearchHit, Store, StoreFile } from "./types.js";

/**
 * The knowledge base endpoints (OpenAI's Files and Vector Stores shapes) and their translation to kb/types.ts.
 * Like ../api.ts: relative URLs only, every call carries the Authorization header, and a failure is an
 * ApiError whose `message` is the server's own words.
 */

interface WireList<T> {
  data?: T[];
  has_more?: boolean;
  last_id?: string | null;
}

interface WireStore {
  id: string;
  name?: string | null;
  created_at?: number;
  usage_bytes?: number;
  status?: Store["status"];
  file_counts?: {
    in_progress?: number;
    completed?: number;
    failed?: number;
    cancelled?: number;
    total?: number;
  };
}

interface WireStoreFile {
  id: string;
  vector_store_id?: string;
  created_at?: number;
  usage_bytes?: number;
  status?: StoreFile["status"];
  last_error?: { code?: string; message?: string } | null;
  filename?: string;
  chunk_count?: number;
}

interface WireChunk {
  type?: string;
  text?: string;
  index?: number;
  heading_path?: string[];
  tokens?: number;
  page?: number;
}

interface WireHit {
  file_id: string;
  filename?: string;
  score?: number;
  content?: { type?: string; text?: string }[];
  heading_path?: string[];
  chunk_index?: number;
}

const STORES = "v1/vector_stores";
const store = (id: string) => `${STORES}/${encodeURIComponent(id)}`;
const storeFile = (storeId: string, fileId: string) =>
  `${store(storeId)}/files/${encodeURIComponent(fileId)}`;

async function call<T>(
  path: string,
  { method = "GET", body, signal }: { method?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<T> {
  const auth = authHeaders();
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: body === undefined ? auth : { "content-type": "application/json", ...auth },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError({ kind: "offline", message: "" });
  }
  if (!res.ok) throw await toApiError(res, "authorization" in auth);
  return (await res.json()) as T;
}

/** Every page of a list endpoint, 100 at a time. */
async function listAll<T extends { id: string }>(path: string, signal?: AbortSignal): Promise<T[]> {
  const all: T[] = [];
  let after: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const query = `limit=100${after ? `&after=${encodeURIComponent(after)}` : ""}`;
    const body = await call<WireList<T>>(`${path}?${query}`, { signal });
    const data = body.data ?? [];
    all.push(...data);
    after = body.last_id ?? data.at(-1)?.id;
    if (!body.has_more || !after) break;
  }
  return all;
}

function toStore(s: WireStore): Store {
  const c = s.file_counts ?? {};
  return {
    id: s.id,
    name: s.name ?? "",
    createdAt: s.created_at ?? 0,
    bytes: s.usage_bytes ?? 0,
    status: s.status ?? "completed",
    files: {
      inProgress: c.in_progress ?? 0,
      completed: c.completed ?? 0,
      failed: c.failed ?? 0,
      cancelled: c.cancelled ?? 0,
      total: c.total ?? 0,
    },
  };
}

function toStoreFile(f: WireStoreFile, storeId: string): StoreFile {
  return {
    id: f.id,
    storeId: f.vector_store_id ?? storeId,
    filename: f.filename,
    createdAt: f.created_at ?? 0,
    bytes: f.usage_bytes ?? 0,
    status: f.status ?? "in_progress",
    ...(f.last_error
      ? { error: { code: f.last_error.code ?? "", message: f.last_error.message ?? "" } }
      : {}),
    chunkCount: f.chunk_count,
  };
}

export async function listStores(signal?: AbortSignal): Promise<Store[]> {
  return (await listAll<WireStore>(STORES, signal)).map(toStore);
}

export async function createStore(name: string): Promise<Store> {
  return toStore(await call<WireStore>(STORES, { method: "POST", body: { name } }));
}

export async function renameStore(id: string, name: string): Promise<Store> {
  return toStore(await call<WireStore>(store(id), { method: "POST", body: { name } }));
}

export async function deleteStore(id: string): Promise<void> {
  await call(store(id), { method: "DELETE" });
}

export async function listStoreFiles(storeId: string, signal?: AbortSignal): Promise<StoreFile[]> {
  return (await listAll<WireStoreFile>(`${store(storeId)}/files`, signal)).map((f) =>
    toStoreFile(f, storeId),
  );
}

/** Adds an uploaded file to a store; the server then chunks and indexes it (status `in_progress`). */
export async function addFileToStore(storeId: string, fileId: string): Promise<StoreFile> {
  const body = await call<WireStoreFile>(`${store(storeId)}/files`, {
    method: "POST",
    body: { file_id: fileId },
  });
  return toStoreFile(body, storeId);
}

export async function removeFileFromStore(storeId: string, fileId: string): Promise<void> {
  await call(storeFile(storeId, fileId), { method: "DELETE" });
}

/** A file's chunks as they were indexed. */
export async function fileChunks(storeId: string, fileId: string, signal?: AbortSignal): Promise<Chunk[]> {
  const body = await call<WireList<WireChunk>>(`${storeFile(storeId, fileId)}/content`, { signal });
  return (body.data ?? []).map((c, i) => ({
    index: c.index ?? i,
    text: c.text ?? "",
    headingPath: Array.isArray(c.heading_path) ? c.heading_path : [],
    tokens: c.tokens,
    page: c.page,
  }));
}

export async function searchStore(
  storeId: string,
  query: string,
  maxResults = 10,
  signal?: AbortSignal,
): Promise<SearchHit[]> {
  const body = await call<WireList<WireHit>>(`${store(storeId)}/search`, {
    method: "POST",
    body: { query, max_num_results: maxResults },
    signal,
  });
  return (body.data ?? []).map((h) => ({
    fileId: h.file_id,
    filename: h.filename ?? h.file_id,
    score: h.score ?? 0,
    text: (h.content ?? []).map((c) => c.text ?? "").join("\n"),
    headingPath: Array.isArray(h.heading_path) ? h.heading_path : [],
    chunkIndex: h.chunk_index,
  }));
}

/**
 * Uploads one file (`POST v1/files`, purpose `assistants`) and resolves with its id. XMLHttpRequest, not fetch,
 * because only XHR reports upload progress. `filename` must be a plain name: the server refuses path separators.
 */
export function uploadFile(
  file: Blob,
  filename: string,
  onProgress: (loaded: number, total: number) => void,
  signal: AbortSignal,
): Promise<{ id: string }> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const xhr = new XMLHttpRequest();
    const auth = authHeaders();
    xhr.open("POST", "v1/files");
    for (const [name, value] of Object.entries(auth)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) =>
      onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          const body = JSON.parse(xhr.responseText) as { id?: string };
          if (typeof body.id === "string") return resolve({ id: body.id });
        } catch {
          // falls through: a 2xx without a file object is an error too
        }
        return reject(new ApiError({ kind: "server", status: xhr.status, message: "" }));
      }
      // The same classification as fetch's errors: a Response built from what the XHR received.
      const headers = new Headers();
      const retryAfter = xhr.getResponseHeader("retry-after");
      if (retryAfter) headers.set("retry-after", retryAfter);
      const response = new Response(xhr.responseText, { status: xhr.status || 500, headers });
      void toApiError(response, "authorization" in auth).then(reject);
    };
    xhr.onerror = () => reject(new ApiError({ kind: "offline", message: "" }));
    xhr.onabort = () => reject(signal.reason ?? new DOMException("Upload cancelled", "AbortError"));
    signal.addEventListener("abort", () => xhr.abort(), { once: true });
    const form = new FormData();
    form.append("purpose", "assistants");
    form.append("file", file, filename);
    xhr.send(form);
  });
}
