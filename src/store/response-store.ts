import type { Response } from "openai/resources/responses/responses";
import type { ChatMessage } from "../provider/types.js";

/**
 * Responses kept for `previous_response_id`, `item_reference` and `GET /v1/responses/{id}`. A small
 * interface so that the store could move to a state file later; the one here lives in memory.
 */

export interface StoredResponse {
  /** The Response object as it was sent. */
  response: Response;
  /** The whole conversation, its answer included, as our messages: what the next turn builds on. */
  conversation: ChatMessage[];
  /** Each output item as the message it stands for, by item id. */
  items: { id: string; message: ChatMessage }[];
  /** The label of the API key that made it; null on a server without keys. Only that key finds it again. */
  owner: string | null;
}

export interface ResponseStore {
  get(id: string): StoredResponse | undefined;
  put(entry: StoredResponse): void;
  /** Whether there was such a response. */
  delete(id: string): boolean;
  /** An output item of a stored response. */
  item(id: string): (StoredResponse["items"][number] & { owner: string | null }) | undefined;
}

export interface MemoryResponseStoreOptions {
  /** Most responses kept. Default 1000. */
  maxEntries?: number;
  /** Most bytes kept (JSON size of the entries). Default 64 MiB. */
  maxBytes?: number;
  /** How long a response is kept after it was made, in ms. Default 3 600 000 (1 h). */
  ttlMs?: number;
  /** Clock, in ms. Default Date.now. */
  now?: () => number;
}

interface Entry {
  stored: StoredResponse;
  bytes: number;
  expiresAt: number;
}

/** An LRU bounded by count and bytes, whose entries also expire; the oldest go first. */
export class MemoryResponseStore implements ResponseStore {
  private readonly entries = new Map<string, Entry>();
  /** Item id to the id of the response that holds it. */
  private readonly itemOwners = new Map<string, string>();
  private bytes = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: MemoryResponseStoreOptions = {}) {
    this.maxEntries = options.maxEntries ?? 1000;
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.ttlMs = options.ttlMs ?? 3_600_000;
    this.now = options.now ?? Date.now;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  get(id: string): StoredResponse | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.remove(id);
      return undefined;
    }
    // A Map iterates in insertion order: re-inserting makes it the most recently used.
    this.entries.delete(id);
    this.entries.set(id, entry);
    return entry.stored;
  }

  put(stored: StoredResponse): void {
    const id = stored.response.id;
    this.remove(id);
    const bytes = Buffer.byteLength(JSON.stringify(stored));
    // One answer larger than the whole store is not kept: it would evict everything else for nothing.
    if (bytes > this.maxBytes) return;
    this.entries.set(id, { stored, bytes, expiresAt: this.now() + this.ttlMs });
    for (const item of stored.items) this.itemOwners.set(item.id, id);
    this.bytes += bytes;
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.remove(oldest);
    }
  }

  delete(id: string): boolean {
    const present = this.get(id) !== undefined;
    this.remove(id);
    return present;
  }

  item(id: string) {
    const responseId = this.itemOwners.get(id);
    const stored = responseId === undefined ? undefined : this.get(responseId);
    const item = stored?.items.find((i) => i.id === id);
    return item && stored ? { ...item, owner: stored.owner } : undefined;
  }

  private remove(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    this.bytes -= entry.bytes;
    for (const item of entry.stored.items) {
      if (this.itemOwners.get(item.id) === id) this.itemOwners.delete(item.id);
    }
  }
}
