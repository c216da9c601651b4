/**
 * The storage interface the answer caches share: keyed entries with a byte size, an optional expiry, and a
 * recency for oldest-first eviction. What goes in an entry (keys, normalization, TTL choice) is the cache's
 * business (src/cache/); this file and state-db.ts only keep entries within their bounds, in memory or on disk.
 */

export interface StoredEntry<T> {
  key: string;
  value: T;
  /** A human-readable label for listings (the FAQ question as first asked); none for the response cache. */
  label?: string;
  /** Size counted against the store's byte bound (approximate). */
  bytes: number;
  /** Unix ms. */
  created: number;
  /** Unix ms after which the entry is gone; none for never. */
  expires?: number;
  /** Times the entry was read back. */
  hits: number;
}

export type NewEntry<T> = Omit<StoredEntry<T>, "hits">;

export interface EntryStore<T> {
  /** The live entry for `key` (counting a hit and making it the most recent), or undefined; an expired one is dropped. */
  get(key: string, now: number): StoredEntry<T> | undefined;
  /** Adds or replaces an entry, then evicts the least recently used until within bounds. Too big an entry is not kept. */
  put(entry: NewEntry<T>, now: number): void;
  delete(key: string): boolean;
  /** Every entry, most recently used first, values left out. */
  list(): Omit<StoredEntry<T>, "value">[];
  /** Removes everything; returns how many entries there were. */
  clear(): number;
  readonly size: { entries: number; bytes: number };
}

export interface StoreBounds {
  /** Largest total of entry bytes. */
  maxBytes: number;
  /** Most entries. Default: no bound but the bytes. */
  maxEntries?: number;
}

/** An EntryStore in a Map (insertion order is recency order), for a server without a state file. */
export class MemoryEntryStore<T> implements EntryStore<T> {
  private readonly entries = new Map<string, StoredEntry<T>>();
  private bytes = 0;

  constructor(private readonly bounds: StoreBounds) {}

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  get(key: string, now: number): StoredEntry<T> | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.remove(key);
    if (entry.expires !== undefined && entry.expires <= now) return undefined;
    entry.hits++;
    this.entries.set(key, entry);
    this.bytes += entry.bytes;
    return entry;
  }

  put(entry: NewEntry<T>, _now: number): void {
    this.remove(entry.key);
    if (!fits(entry.bytes, this.bounds)) return;
    this.entries.set(entry.key, { ...entry, hits: 0 });
    this.bytes += entry.bytes;
    for (const [key] of this.entries) {
      if (this.bytes <= this.bounds.maxBytes && this.entries.size <= (this.bounds.maxEntries ?? Infinity))
        break;
      this.remove(key);
    }
  }

  delete(key: string): boolean {
    return this.remove(key);
  }

  list(): Omit<StoredEntry<T>, "value">[] {
    return [...this.entries.values()].reverse().map(({ value: _value, ...rest }) => rest);
  }

  clear(): number {
    const count = this.entries.size;
    this.entries.clear();
    this.bytes = 0;
    return count;
  }

  private remove(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
    return true;
  }
}

/** Whether one entry of `bytes` can be kept at all. */
export function fits(bytes: number, bounds: StoreBounds): boolean {
  return bytes <= bounds.maxBytes && (bounds.maxEntries ?? 1) >= 1;
}
