import { useSyncExternalStore } from "react";
import { ApiError } from "../api.js";
import type { AnswerError } from "../types.js";
import { addFileToStore, uploadFile } from "./api.js";
import { baseName, type Picked } from "./files.js";
import type { StoreFile } from "./types.js";

/**
 * The upload queue, outside React: uploads go on while the knowledge panel is closed, and the panel shows
 * them again when it opens. Each file is uploaded (with progress), then added to its store; the store's
 * file list takes over from there (indexing status, chunk count).
 */

/** Files sent at once: the server and the page share two cores with the model in the common case. */
const CONCURRENCY = 2;

export type UploadProblem = { kind: "tooLarge"; limit: number } | { kind: "api"; error: AnswerError };

export interface Upload {
  key: string;
  storeId: string;
  /** The path in the chosen folder, or the file name; the server gets the base name. */
  path: string;
  bytes: number;
  /** `done`: added to the store, shown as `file` until the store's list has it. */
  phase: "queued" | "uploading" | "adding" | "failed" | "done";
  loaded: number;
  problem?: UploadProblem;
  file?: StoreFile;
}

interface Snapshot {
  uploads: readonly Upload[];
}

let snapshot: Snapshot = { uploads: [] };
const listeners = new Set<() => void>();
const pending = new Map<string, { file: File; abort: AbortController }>();
let running = 0;
let counter = 0;

/** Names the page uploaded, by file id: a server that does not name files in its lists still shows them named. */
export const uploadedNames = new Map<string, string>();

function commit(uploads: readonly Upload[]): void {
  snapshot = { uploads };
  for (const listener of listeners) listener();
}

function patch(key: string, change: Partial<Upload>): void {
  commit(snapshot.uploads.map((u) => (u.key === key ? { ...u, ...change } : u)));
}

/** Queues files for a store; files over the size limit are listed as failed without being sent. */
export function enqueue(
  storeId: string,
  accepted: readonly Picked[],
  tooLarge: readonly Picked[],
  limit: number,
) {
  const added: Upload[] = [];
  for (const { file, path } of accepted) {
    const key = `u${++counter}`;
    pending.set(key, { file, abort: new AbortController() });
    added.push({ key, storeId, path, bytes: file.size, phase: "queued", loaded: 0 });
  }
  for (const { file, path } of tooLarge)
    added.push({
      key: `u${++counter}`,
      storeId,
      path,
      bytes: file.size,
      phase: "failed",
      loaded: 0,
      problem: { kind: "tooLarge", limit },
    });
  commit([...snapshot.uploads, ...added]);
  pump();
}

function pump(): void {
  while (running < CONCURRENCY) {
    const next = snapshot.uploads.find((u) => u.phase === "queued");
    if (!next) return;
    running++;
    void run(next).finally(() => {
      running--;
      pump();
    });
  }
}

async function run(upload: Upload): Promise<void> {
  const job = pending.get(upload.key);
  if (!job) return;
  patch(upload.key, { phase: "uploading" });
  try {
    const { id } = await uploadFile(
      job.file,
      baseName(upload.path),
      (loaded) => patch(upload.key, { loaded }),
      job.abort.signal,
    );
    uploadedNames.set(id, baseName(upload.path));
    patch(upload.key, { phase: "adding", loaded: upload.bytes });
    const file = await addFileToStore(upload.storeId, id);
    patch(upload.key, { phase: "done", file });
    pending.delete(upload.key);
  } catch (error) {
    // A failed upload keeps its file for a retry; a cancelled one is gone.
    if (job.abort.signal.aborted) return;
    const problem: UploadProblem = {
      kind: "api",
      error: error instanceof ApiError ? error.error : { kind: "server", message: String(error) },
    };
    patch(upload.key, { phase: "failed", problem });
  }
}

/** Stops an upload (or drops a failed one from the list). */
export function cancelUpload(key: string): void {
  pending.get(key)?.abort.abort();
  pending.delete(key);
  commit(snapshot.uploads.filter((u) => u.key !== key));
}

/** Forgets finished uploads the store's file list now shows. */
export function forgetUploads(keys: ReadonlySet<string>): void {
  if (keys.size === 0) return;
  for (const key of keys) pending.delete(key);
  commit(snapshot.uploads.filter((u) => !keys.has(u.key)));
}

/** Whether a failed upload can be tried again (the page still has its file). */
export function canRetry(key: string): boolean {
  return pending.has(key);
}

export function retryUpload(key: string): void {
  const job = pending.get(key);
  if (!job) return;
  if (job.abort.signal.aborted) job.abort = new AbortController();
  patch(key, { phase: "queued", loaded: 0, problem: undefined });
  pump();
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function useUploads(): readonly Upload[] {
  return useSyncExternalStore(subscribe, () => snapshot).uploads;
}
