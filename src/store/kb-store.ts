/**
 * The knowledge base's storage interface: uploaded files, vector stores, which files each store holds and
 * how far their ingestion got, and the chunks with their lexical terms and vectors. One interface, one
 * backend per database (SQLite here, `sqlite-kb-store.ts`); nothing above `store/` knows which one runs.
 * Times are Unix seconds, as OpenAI's objects carry them.
 */

/** The label of the API key that made a thing; null on a server without keys (loopback: one owner). */
export type Owner = string | null;

export interface FileRecord {
  id: string;
  owner: Owner;
  filename: string;
  purpose: string;
  bytes: number;
  createdAt: number;
  expiresAt: number | null;
}

export interface ExpiresAfter {
  anchor: "last_active_at";
  days: number;
}

export interface StoreRecord {
  id: string;
  owner: Owner;
  name: string;
  createdAt: number;
  lastActiveAt: number;
  metadata: Record<string, string>;
  expiresAfter: ExpiresAfter | null;
  /** The embedding model the store's vectors came from; null for a lexical-only store. */
  embeddingModel: string | null;
}

export interface Chunking {
  maxTokens: number;
  overlapTokens: number;
}

export type StoreFileStatus = "in_progress" | "completed" | "failed" | "cancelled";

export interface StoreFileRecord {
  storeId: string;
  fileId: string;
  createdAt: number;
  status: StoreFileStatus;
  lastError: { code: string; message: string } | null;
  chunking: Chunking;
  attributes: Record<string, string | number | boolean>;
  /** Bytes the file's chunks take in the store (their text and vectors). */
  usageBytes: number;
  chunkCount: number;
  batchId: string | null;
}

export type BatchStatus = "in_progress" | "completed" | "cancelled" | "failed";

export interface BatchRecord {
  id: string;
  storeId: string;
  createdAt: number;
  cancelled: boolean;
}

export interface FileCounts {
  in_progress: number;
  completed: number;
  failed: number;
  cancelled: number;
  total: number;
}

/** A chunk as ingestion makes it. */
export interface ChunkInput {
  text: string;
  headingPath: string[];
  tokens: number;
  page?: number;
  /** The analyzed terms of the document title, of the heading path and of the text (`kb/analyze.ts`). */
  terms: { title: string[]; heading: string[]; body: string[] };
  /**
   * What the lexical index holds for each field, when more than `terms` (ingestion adds the characters of
   * Chinese words after them). Default: `terms`.
   */
  indexed?: { title: string[]; heading: string[]; body: string[] };
  /** Unit-length embedding, when the store has an embedding model. */
  vector?: Float32Array;
}

export interface ChunkRecord {
  /** Unique in the whole store: the key search results and citations name. */
  id: number;
  storeId: string;
  fileId: string;
  /** 0-based position in its file. */
  index: number;
  text: string;
  headingPath: string[];
  tokens: number;
  page?: number;
}

/** A chunk's analyzed terms by field: its document's title, its heading path, its text. */
export interface ChunkTerms {
  title: string[];
  heading: string[];
  body: string[];
}

/** A lexical match: the chunk, its file and store, and its BM25 score (higher is better). */
export interface LexicalHit {
  chunkId: number;
  fileId: string;
  storeId: string;
  score: number;
}

export interface Page<T> {
  data: T[];
  hasMore: boolean;
}

export interface PageQuery {
  limit: number;
  order: "asc" | "desc";
  /** The id the previous page ended with. */
  after?: string;
  before?: string;
}

export interface KbStore {
  putFile(file: FileRecord, data: Uint8Array): void;
  getFile(id: string): FileRecord | undefined;
  fileData(id: string): Uint8Array | undefined;
  listFiles(owner: Owner, query: PageQuery & { purpose?: string }): Page<FileRecord>;
  /** Removes the file, its place in every store and those chunks. */
  deleteFile(id: string): void;
  /** Bytes of files and chunks an owner holds. */
  ownerBytes(owner: Owner): number;

  putStore(store: StoreRecord): void;
  getStore(id: string): StoreRecord | undefined;
  listStores(owner: Owner, query: PageQuery): Page<StoreRecord>;
  /** Removes the store, its files' places in it and their chunks (the files stay). */
  deleteStore(id: string): void;
  storeBytes(storeId: string): number;

  /** Adds (or re-adds, resetting) files to a store, `in_progress`, in one transaction. */
  putStoreFiles(records: readonly StoreFileRecord[]): void;
  getStoreFile(storeId: string, fileId: string): StoreFileRecord | undefined;
  listStoreFiles(
    storeId: string,
    query: PageQuery & { status?: StoreFileStatus; batchId?: string },
  ): Page<StoreFileRecord>;
  setAttributes(storeId: string, fileId: string, attributes: StoreFileRecord["attributes"]): void;
  /** Ends an ingestion that did not complete; its chunks (if any) go. Only an `in_progress` one changes. */
  finishStoreFile(
    storeId: string,
    fileId: string,
    status: "failed" | "cancelled",
    error: StoreFileRecord["lastError"],
  ): boolean;
  /**
   * Writes a file's chunks and marks it completed, in one transaction: a crash leaves it either completed
   * with all its chunks or in progress with none. Only while it is still `in_progress` (deleted or cancelled
   * meanwhile: nothing is written, false).
   */
  completeStoreFile(storeId: string, fileId: string, chunks: readonly ChunkInput[]): boolean;
  deleteStoreFile(storeId: string, fileId: string): boolean;
  fileCounts(storeId: string, batchId?: string): FileCounts;
  /** Every store file still `in_progress`, oldest first (what a restart resumes). */
  pending(): StoreFileRecord[];

  putBatch(batch: BatchRecord): void;
  getBatch(id: string): BatchRecord | undefined;
  cancelBatch(id: string): void;

  chunksOf(storeId: string, fileId: string): ChunkRecord[];
  chunks(ids: readonly number[]): ChunkRecord[];
  /** The best `limit` chunks of the stores for the query terms, by BM25 over title, headings and text. */
  lexicalSearch(storeIds: readonly string[], terms: readonly string[], limit: number): LexicalHit[];
  /** How many chunks of the whole index hold each term, and how many chunks it has (for IDF). */
  termStats(terms: readonly string[]): { docs: number; df: Map<string, number> };
  /** The analyzed terms of chunks, by field, for scoring. */
  chunkTerms(ids: readonly number[]): Map<number, ChunkTerms>;
  /** Every vector of a store, by chunk id (empty for a lexical-only store). */
  vectors(storeId: string): { ids: Int32Array | number[]; vectors: Float32Array[] };
  /** Grows by one with every change to a store's chunks, so caches of them know when to reload. */
  version(storeId: string): number;

  /** Stores whose `expires_after` has passed, files whose `expires_at` has. */
  expired(now: number): { stores: string[]; files: string[] };
  touchStore(id: string, now: number): void;
}
