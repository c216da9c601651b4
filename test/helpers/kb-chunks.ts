import { analyze, indexedTerms } from "../../src/kb/analyze.js";
import type { ChunkInput, StoreFileRecord } from "../../src/store/kb-store.js";

/** A chunk as ingestion makes it (its terms analyzed and indexed), sized one token per character. */
export function chunkInput(text: string, headingPath: string[] = []): ChunkInput {
  const terms = { title: [], heading: analyze(headingPath.join(" ")), body: analyze(text) };
  return { text, headingPath, tokens: text.length, terms, indexed: indexedTerms(terms) };
}

/** A store file waiting for ingestion, with auto's chunking. */
export function storeFileRecord(storeId: string, fileId: string): StoreFileRecord {
  return {
    storeId,
    fileId,
    createdAt: 1,
    status: "in_progress",
    lastError: null,
    chunking: { maxTokens: 300, overlapTokens: 60 },
    attributes: {},
    usageBytes: 0,
    chunkCount: 0,
    batchId: null,
  };
}
