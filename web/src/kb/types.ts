/**
 * The knowledge base as the page sees it: vector stores, their files, chunks and search hits, in our own
 * names. kb/api.ts translates OpenAI's wire shapes (`file_counts`, `last_error`, `heading_path`…) to these.
 */

export interface Store {
  id: string;
  name: string;
  createdAt: number;
  /** Bytes the store's files and index take on the server. */
  bytes: number;
  status: "in_progress" | "completed" | "expired";
  files: { inProgress: number; completed: number; failed: number; cancelled: number; total: number };
}

export type FileStatus = "in_progress" | "completed" | "failed" | "cancelled";

/** A file in a store: uploaded, then chunked and indexed by the server (`in_progress` until done). */
export interface StoreFile {
  id: string;
  storeId: string;
  /** edgellm names the file; another server may not, and the page falls back to the name it uploaded. */
  filename?: string;
  createdAt: number;
  bytes: number;
  status: FileStatus;
  error?: { code: string; message: string };
  /** Chunks indexed; 0 until completed. */
  chunkCount?: number;
}

/** A chunk of a file as it was indexed. */
export interface Chunk {
  /** 0-based chunk number in the file. */
  index: number;
  text: string;
  /** The headings the chunk sits under, outermost first. */
  headingPath: string[];
  tokens?: number;
  page?: number;
}

export interface SearchHit {
  fileId: string;
  filename: string;
  /** 0..1, higher is closer. */
  score: number;
  text: string;
  headingPath: string[];
  chunkIndex?: number;
}
