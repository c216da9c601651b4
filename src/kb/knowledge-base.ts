import { randomBytes } from "node:crypto";
import {
  EmbeddingModelMismatchError,
  FileNotFoundError,
  FileTooLargeError,
  InvalidRequestError,
  VectorStoreNotFoundError,
} from "../provider/errors.js";
import type { EmbeddingProvider, RerankProvider } from "../provider/types.js";
import type {
  BatchRecord,
  BatchStatus,
  ChunkInput,
  Chunking,
  ExpiresAfter,
  FileRecord,
  KbStore,
  Owner,
  StoreFileRecord,
  StoreRecord,
} from "../store/kb-store.js";
import { type Filter, matches } from "./filters.js";
import type { IngestWorker } from "./ingest-pool.js";
import { Searcher, type SearchHit, type SearchOptions } from "./search.js";

/** `chunking_strategy: auto`: chunks small enough that three of them keep a grounded prompt short. */
export const AUTO_CHUNKING: Chunking = { maxTokens: 300, overlapTokens: 60 };

export interface KnowledgeBaseOptions {
  store: KbStore;
  worker: IngestWorker;
  /** The embedding model, when the server has one: stores made then get vectors. */
  embeddings?: EmbeddingProvider;
  /** The reranker, when the server has one: it reorders each search's best results. */
  reranker?: RerankProvider;
  /** How many of a search's best results the reranker scores. Default 10. */
  rerankCandidates?: number;
  /** Largest file accepted, in bytes. Default 50 MiB. */
  maxFileBytes?: number;
  /** Bytes of files and chunks one API key may hold. Default 2 GiB. */
  maxStorageBytes?: number;
  /** Clock, in ms. Default Date.now. */
  now?: () => number;
  /** Where ingestion failures are reported. */
  log?: { warn(fields: object, message: string): void };
  /**
   * Whether the model is answering someone now: ingestion starts no new document meanwhile, so that chat
   * keeps both cores (a parse on one of them tripled a short answer's TTFT, docs/benchmarks.md). Default: never.
   */
  interactive?: () => boolean;
}

const MAX_BATCH_FILES = 10_000;
/** How often ingestion looks whether the model is still busy answering, in ms. */
const INTERACTIVE_WAIT_MS = 25;
/** The longest ingestion waits for answers before it lets one document through anyway, in ms. */
const MAX_PAUSE_MS = 2000;
/** Tokens of an embedding input kept for a chunk's heading path. */
const HEADING_ROOM = 48;
/** Most chunks one file may make; a file past it fails rather than crowd out every other. */
const MAX_CHUNKS_PER_FILE = 20_000;

/** `prefix_` and 24 random letters and digits, as OpenAI's ids look. */
export function newId(prefix: "file-" | "vs_" | "vsfb_"): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = randomBytes(24);
  let id = prefix;
  for (const b of bytes) id += alphabet[b % alphabet.length];
  return id;
}

/**
 * The knowledge base: files, vector stores and their ingestion, and search. Every method takes the owner
 * (the API key's label) and answers another owner's ids as unknown ones. Ingestion runs one file at a time
 * through the ingest worker (parsing, chunking and tokenizing off the main thread), and each file's chunks are
 * written in one transaction together with its `completed` status.
 */
export class KnowledgeBase {
  readonly store: KbStore;
  private readonly worker: IngestWorker;
  private readonly embeddings: EmbeddingProvider | undefined;
  readonly maxFileBytes: number;
  private readonly maxStorageBytes: number;
  private readonly now: () => number;
  private readonly queue: { storeId: string; fileId: string }[] = [];
  private running = 0;
  private readonly searcher: Searcher;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private sweeper: NodeJS.Timeout | undefined;
  /** The pump's next look while the model is answering. */
  private waiting: NodeJS.Timeout | undefined;
  /** Since when ingestion has waited for the model to be idle (performance.now()). */
  private pausedSince: number | undefined;
  /** Where ingestion failures are reported (the HTTP app's log, once it exists). */
  log: KnowledgeBaseOptions["log"];

  constructor(private readonly options: KnowledgeBaseOptions) {
    this.store = options.store;
    this.worker = options.worker;
    this.embeddings = options.embeddings;
    this.maxFileBytes = options.maxFileBytes ?? 50 * 1024 * 1024;
    this.maxStorageBytes = options.maxStorageBytes ?? 2 * 1024 * 1024 * 1024;
    this.now = options.now ?? Date.now;
    this.searcher = new Searcher(this.store, options.embeddings);
    this.log = options.log;
  }

  /** Resumes the ingestions a previous run left in progress, and starts the expiry sweep. */
  start(): void {
    this.sweep();
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
    for (const pending of this.store.pending()) this.enqueue(pending.storeId, pending.fileId);
  }

  private seconds(): number {
    return Math.floor(this.now() / 1000);
  }

  // Files

  createFile(owner: Owner, input: { filename: string; purpose: string; data: Uint8Array }): FileRecord {
    if (input.data.byteLength > this.maxFileBytes) throw this.tooLarge();
    if (this.store.ownerBytes(owner) + input.data.byteLength > this.maxStorageBytes)
      throw new FileTooLargeError(
        `This API key's files and indexes would pass the storage limit of ${mib(this.maxStorageBytes)} MiB ` +
          "(--kb-max-storage). Delete files or vector stores first.",
        "storage_limit_exceeded",
      );
    const file: FileRecord = {
      id: newId("file-"),
      owner,
      filename: input.filename,
      purpose: input.purpose,
      bytes: input.data.byteLength,
      createdAt: this.seconds(),
      expiresAt: null,
    };
    this.store.putFile(file, input.data);
    return file;
  }

  tooLarge(): FileTooLargeError {
    return new FileTooLargeError(
      `The file is larger than the limit of ${mib(this.maxFileBytes)} MiB (--kb-max-file-size).`,
    );
  }

  file(owner: Owner, id: string, param: string | null = null): FileRecord {
    const file = this.store.getFile(id);
    if (!file || file.owner !== owner) throw new FileNotFoundError(id, param);
    return file;
  }

  fileContent(owner: Owner, id: string): { file: FileRecord; data: Uint8Array } {
    const file = this.file(owner, id);
    return { file, data: this.store.fileData(id) ?? new Uint8Array() };
  }

  deleteFile(owner: Owner, id: string): void {
    this.file(owner, id);
    this.store.deleteFile(id);
  }

  // Vector stores

  createStore(
    owner: Owner,
    input: {
      name?: string;
      fileIds?: string[];
      chunking?: Chunking;
      metadata?: Record<string, string>;
      expiresAfter?: ExpiresAfter | null;
    },
  ): StoreRecord {
    // Every file is checked before anything is made: a bad id leaves no half-made store.
    for (const [i, id] of (input.fileIds ?? []).entries()) this.file(owner, id, `file_ids[${i}]`);
    const now = this.seconds();
    const store: StoreRecord = {
      id: newId("vs_"),
      owner,
      name: input.name ?? "",
      createdAt: now,
      lastActiveAt: now,
      metadata: input.metadata ?? {},
      expiresAfter: input.expiresAfter ?? null,
      embeddingModel: this.embeddings?.info()?.id ?? null,
    };
    this.store.putStore(store);
    for (const id of input.fileIds ?? []) this.addFile(owner, store.id, id, { chunking: input.chunking });
    return store;
  }

  vectorStore(owner: Owner, id: string, param: string | null = null): StoreRecord {
    const store = this.store.getStore(id);
    if (!store || store.owner !== owner) throw new VectorStoreNotFoundError("vector store", id, param);
    return store;
  }

  /** A store by its id or, failing that, its name (the newest of that name), for `kb:` model names. */
  resolveStore(owner: Owner, ref: string, param: string | null = null): StoreRecord {
    const byId = this.store.getStore(ref);
    if (byId && byId.owner === owner) return byId;
    let after: string | undefined;
    for (;;) {
      const page = this.store.listStores(owner, { limit: 100, order: "desc", after });
      const found = page.data.find((s) => s.name === ref);
      if (found) return found;
      if (!page.hasMore) break;
      after = page.data.at(-1)?.id;
    }
    throw new VectorStoreNotFoundError("vector store", ref, param);
  }

  updateStore(
    owner: Owner,
    id: string,
    patch: { name?: string; metadata?: Record<string, string>; expiresAfter?: ExpiresAfter | null },
  ): StoreRecord {
    const store = this.vectorStore(owner, id);
    const updated: StoreRecord = {
      ...store,
      ...(patch.name !== undefined && { name: patch.name }),
      ...(patch.metadata !== undefined && { metadata: patch.metadata }),
      ...(patch.expiresAfter !== undefined && { expiresAfter: patch.expiresAfter }),
      lastActiveAt: this.seconds(),
    };
    this.store.putStore(updated);
    return updated;
  }

  deleteStore(owner: Owner, id: string): void {
    this.vectorStore(owner, id);
    this.store.deleteStore(id);
  }

  /** The store's size, counts and status as OpenAI reports them. */
  storeStatus(store: StoreRecord) {
    const counts = this.store.fileCounts(store.id);
    return {
      usageBytes: this.store.storeBytes(store.id),
      counts,
      status: counts.in_progress > 0 ? ("in_progress" as const) : ("completed" as const),
    };
  }

  // Files in stores

  addFile(
    owner: Owner,
    storeId: string,
    fileId: string,
    input: { chunking?: Chunking; attributes?: StoreFileRecord["attributes"]; batchId?: string } = {},
  ): StoreFileRecord {
    const store = this.vectorStore(owner, storeId);
    this.file(owner, fileId, "file_id");
    this.checkEmbeddingModel(store);
    const existing = this.store.getStoreFile(storeId, fileId);
    // The same file added again while it is in the store is the same vector store file, as OpenAI answers.
    if (existing && existing.status !== "failed" && existing.status !== "cancelled" && !input.batchId)
      return existing;
    const record = this.pendingRecord(storeId, fileId, input);
    this.store.putStoreFiles([record]);
    this.store.touchStore(storeId, this.seconds());
    this.enqueue(storeId, fileId);
    return record;
  }

  /** A file's place in a store as it starts: `in_progress`, no chunks yet. */
  private pendingRecord(
    storeId: string,
    fileId: string,
    input: { chunking?: Chunking; attributes?: StoreFileRecord["attributes"]; batchId?: string },
  ): StoreFileRecord {
    return {
      storeId,
      fileId,
      createdAt: this.seconds(),
      status: "in_progress",
      lastError: null,
      chunking: this.fitChunking(storeId, input.chunking ?? AUTO_CHUNKING),
      attributes: input.attributes ?? {},
      usageBytes: 0,
      chunkCount: 0,
      batchId: input.batchId ?? null,
    };
  }

  storeFile(owner: Owner, storeId: string, fileId: string): StoreFileRecord {
    this.vectorStore(owner, storeId);
    const record = this.store.getStoreFile(storeId, fileId);
    if (!record) throw new VectorStoreNotFoundError("vector store file", fileId);
    return record;
  }

  removeFile(owner: Owner, storeId: string, fileId: string): void {
    this.storeFile(owner, storeId, fileId);
    this.store.deleteStoreFile(storeId, fileId);
  }

  // Batches

  createBatch(
    owner: Owner,
    storeId: string,
    files: { fileId: string; attributes?: StoreFileRecord["attributes"]; chunking?: Chunking }[],
  ): BatchRecord {
    const store = this.vectorStore(owner, storeId);
    this.checkEmbeddingModel(store);
    if (files.length === 0)
      throw new InvalidRequestError("A file batch needs at least one file.", "file_ids");
    if (files.length > MAX_BATCH_FILES)
      throw new InvalidRequestError(
        `A file batch holds at most ${MAX_BATCH_FILES} files; this one has ${files.length}. Send several batches.`,
        "file_ids",
      );
    for (const [i, f] of files.entries()) this.file(owner, f.fileId, `file_ids[${i}]`);
    const batch: BatchRecord = { id: newId("vsfb_"), storeId, createdAt: this.seconds(), cancelled: false };
    this.store.putBatch(batch);
    // One transaction for the whole batch: the corpus's 5,686 files added one by one held the event loop 1.3 s.
    const records = files.map((f) =>
      this.pendingRecord(storeId, f.fileId, {
        chunking: f.chunking,
        attributes: f.attributes,
        batchId: batch.id,
      }),
    );
    this.store.putStoreFiles(records);
    this.store.touchStore(storeId, this.seconds());
    for (const r of records) this.enqueue(r.storeId, r.fileId);
    return batch;
  }

  batch(owner: Owner, storeId: string, batchId: string): BatchRecord {
    this.vectorStore(owner, storeId);
    const batch = this.store.getBatch(batchId);
    if (!batch || batch.storeId !== storeId) throw new VectorStoreNotFoundError("file batch", batchId);
    return batch;
  }

  batchStatus(batch: BatchRecord): { status: BatchStatus; counts: ReturnType<KbStore["fileCounts"]> } {
    const counts = this.store.fileCounts(batch.storeId, batch.id);
    const status: BatchStatus = batch.cancelled
      ? counts.in_progress > 0
        ? "in_progress"
        : "cancelled"
      : counts.in_progress > 0
        ? "in_progress"
        : "completed";
    return { status, counts };
  }

  cancelBatch(owner: Owner, storeId: string, batchId: string): BatchRecord {
    this.batch(owner, storeId, batchId);
    this.store.cancelBatch(batchId);
    return this.batch(owner, storeId, batchId);
  }

  // Search

  /**
   * The stores' chunks that best answer the query. With a reranker (and `rerank` not false), the best
   * `rerankCandidates` results (or `maxResults`, when more) are scored by it, and its score is the one
   * `scoreThreshold` applies to and results are ordered by.
   */
  async search(
    owner: Owner,
    storeIds: readonly string[],
    query: string,
    options: SearchOptions & { filters?: Filter; signal?: AbortSignal; rerank?: boolean },
  ): Promise<SearchHit[]> {
    const stores = storeIds.map((id, i) => this.vectorStore(owner, id, `vector_store_ids[${i}]`));
    for (const store of stores) {
      this.checkEmbeddingModel(store);
      this.store.touchStore(store.id, this.seconds());
    }
    const attributes = new Map<string, StoreFileRecord["attributes"]>();
    const filter = options.filters;
    const allowed = filter
      ? (storeId: string, fileId: string) => {
          const key = `${storeId}\u0000${fileId}`;
          let attrs = attributes.get(key);
          if (!attrs) {
            attrs = this.store.getStoreFile(storeId, fileId)?.attributes ?? {};
            attributes.set(key, attrs);
          }
          return matches(filter, attrs);
        }
      : undefined;
    const reranker = options.rerank !== false ? this.options.reranker : undefined;
    let hits = await this.searcher.search(
      stores.map((s) => s.id),
      query,
      reranker
        ? {
            ...options,
            allowed,
            maxResults: Math.max(options.maxResults, this.options.rerankCandidates ?? 10),
            scoreThreshold: 0,
          }
        : { ...options, allowed },
      stores.some((s) => s.embeddingModel !== null),
    );
    if (reranker && hits.length > 0) {
      const { scores } = await reranker.rank(
        query,
        hits.map((hit) => [...hit.chunk.headingPath, hit.chunk.text].join("\n")),
        { signal: options.signal ?? new AbortController().signal, truncate: true },
      );
      const threshold = options.scoreThreshold ?? 0;
      hits = hits
        .map((hit, i) => ({ ...hit, score: scores[i] as number }))
        .filter((hit) => hit.score >= threshold)
        .sort((a, b) => b.score - a.score)
        .slice(0, options.maxResults);
    }
    return hits.map((hit) => ({
      ...hit,
      filename: this.store.getFile(hit.chunk.fileId)?.filename ?? "",
      attributes: this.store.getStoreFile(hit.chunk.storeId, hit.chunk.fileId)?.attributes ?? {},
    }));
  }

  private checkEmbeddingModel(store: StoreRecord): void {
    const served = this.embeddings?.info()?.id;
    if (store.embeddingModel !== null && store.embeddingModel !== served)
      throw new EmbeddingModelMismatchError(store.id, store.embeddingModel, served);
  }

  // Ingestion

  /** Settles once no ingestion is queued or running (tests, the bench and shutdown). */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private enqueue(storeId: string, fileId: string): void {
    this.queue.push({ storeId, fileId });
    this.pump();
  }

  /** Keeps two files in flight: the worker parses the next while this thread writes the last. */
  private pump(): void {
    const now = performance.now();
    const busy = this.options.interactive?.() === true && this.queue.length > 0 && !this.closed;
    if (!busy) this.pausedSince = undefined;
    else this.pausedSince ??= now;
    // Under steady traffic a document still goes through now and then, so ingestion never starves.
    if (busy && now - (this.pausedSince as number) < MAX_PAUSE_MS) {
      // Looked at again shortly; an answer's prefill and decoding take the cores meanwhile.
      this.waiting ??= setTimeout(() => {
        this.waiting = undefined;
        this.pump();
      }, INTERACTIVE_WAIT_MS);
      return;
    }
    if (busy) this.pausedSince = undefined;
    while (!this.closed && this.running < 2 && this.queue.length > 0) {
      const job = this.queue.shift() as { storeId: string; fileId: string };
      this.running++;
      void this.ingest(job.storeId, job.fileId)
        .catch((error) =>
          this.fail(job.storeId, job.fileId, "parse_failed", String((error as Error).message)),
        )
        .finally(() => {
          this.running--;
          this.pump();
          if (this.queue.length === 0 && this.running === 0) {
            for (const resolve of this.idleWaiters.splice(0)) resolve();
          }
        });
    }
  }

  private async ingest(storeId: string, fileId: string): Promise<void> {
    const record = this.store.getStoreFile(storeId, fileId);
    if (record?.status !== "in_progress") return; // deleted or cancelled while queued
    const file = this.store.getFile(fileId);
    const data = this.store.fileData(fileId);
    if (!file || !data) return void this.fail(storeId, fileId, "file_not_found", "The file was deleted.");
    const answer = await this.worker.run({
      filename: file.filename,
      data,
      chunking: record.chunking,
      maxExpandedBytes: Math.max(200 * 1024 * 1024, this.maxFileBytes * 4),
    });
    if (this.closed) return; // left in progress: the next start resumes it
    if ("error" in answer) return void this.fail(storeId, fileId, answer.error.code, answer.error.message);
    if (answer.chunks.length > MAX_CHUNKS_PER_FILE)
      return void this.fail(
        storeId,
        fileId,
        "too_large",
        `The file makes ${answer.chunks.length} chunks; at most ${MAX_CHUNKS_PER_FILE} are kept per file.`,
      );
    const store = this.store.getStore(storeId);
    if (!store) return;
    const chunks = store.embeddingModel ? await this.embed(answer.chunks) : answer.chunks;
    this.store.completeStoreFile(storeId, fileId, chunks);
  }

  /**
   * Chunks no larger than the store's embedding model takes in one input (less room for the heading path),
   * so that every chunk gets a vector whole: a chunk is never cut to fit. Reported as the file's
   * `chunking_strategy`.
   */
  private fitChunking(storeId: string, chunking: Chunking): Chunking {
    const info = this.store.getStore(storeId)?.embeddingModel ? this.embeddings?.info() : undefined;
    if (!info) return chunking;
    const max = Math.max(16, info.maxInputTokens - HEADING_ROOM);
    if (chunking.maxTokens <= max) return chunking;
    return { maxTokens: max, overlapTokens: Math.min(chunking.overlapTokens, Math.floor(max / 2)) };
  }

  /** Each chunk's vector, of its heading path and text (the heading says what the text is about). */
  private async embed(chunks: ChunkInput[]): Promise<ChunkInput[]> {
    const embeddings = this.embeddings as EmbeddingProvider;
    const out: ChunkInput[] = [];
    const batch = 32;
    for (let i = 0; i < chunks.length; i += batch) {
      const part = chunks.slice(i, i + batch);
      const { vectors } = await embeddings.embed(
        part.map((c) => {
          const heading = c.headingPath.join(" > ");
          // The heading path goes with the text while it surely fits (a token is at least a character here).
          const room = (embeddings.info()?.maxInputTokens ?? 0) - c.tokens;
          return heading && heading.length + 2 < room ? `${heading}\n${c.text}` : c.text;
        }),
        { signal: AbortSignal.timeout(300_000) },
      );
      for (const [j, c] of part.entries()) out.push({ ...c, vector: vectors[j] });
    }
    return out;
  }

  private fail(storeId: string, fileId: string, code: string, message: string): void {
    if (this.closed) return;
    if (this.store.finishStoreFile(storeId, fileId, "failed", { code, message }))
      this.log?.warn({ storeId, fileId, code }, `knowledge base: a file failed: ${message}`);
  }

  /** Removes stores and files whose `expires_after` has passed. */
  private sweep(): void {
    const { stores, files } = this.store.expired(this.seconds());
    for (const id of stores) this.store.deleteStore(id);
    for (const id of files) this.store.deleteFile(id);
  }

  /** Stops ingesting: what is in flight stays `in_progress` and resumes at the next start. */
  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.waiting) clearTimeout(this.waiting);
    await this.worker.close();
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / 1024 / 1024);
}
