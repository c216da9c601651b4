import type { ChunkInput } from "../store/kb-store.js";

/** A document for the ingest worker. */
export interface IngestJob {
  id: number;
  filename: string;
  data: Uint8Array;
  chunking: { maxTokens: number; overlapTokens: number };
  /** Most bytes an archive (DOCX) may expand to. */
  maxExpandedBytes: number;
}

/** The worker's answer: the chunks with their terms, or why the file could not be read. */
export type IngestAnswer =
  | { id: number; chunks: ChunkInput[]; title?: string }
  | { id: number; error: { code: string; message: string } };
