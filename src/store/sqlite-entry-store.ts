import type Database from "better-sqlite3";
import { type EntryStore, fits, type NewEntry, type StoreBounds, type StoredEntry } from "./entry-store.js";

interface Row {
  key: string;
  value: string;
  label: string | null;
  bytes: number;
  created: number;
  expires: number | null;
  hits: number;
}

/** Rows evicted per query while over the bounds. */
const EVICT_BATCH = 64;

/**
 * One cache's entries (`ns`) in the state file. Values are stored as JSON. The running totals are kept in
 * memory: the file has one writer (StateDb holds it exclusively), so they cannot drift. Each put and its
 * evictions are one transaction.
 */
export class SqliteEntryStore<T> implements EntryStore<T> {
  private entries = 0;
  private bytes = 0;
  /** Recency stamp: the clock, but strictly increasing so that eviction order is exact. */
  private tick = 0;
  private readonly statements;
  private readonly putTransaction: (entry: NewEntry<T>, now: number) => void;

  constructor(
    db: Database.Database,
    private readonly ns: string,
    private readonly bounds: StoreBounds,
    now: number,
  ) {
    const s = {
      get: db.prepare<[string, string], Row>(
        "SELECT key, value, label, bytes, created, expires, hits FROM cache_entries WHERE ns = ? AND key = ?",
      ),
      touch: db.prepare<[number, string, string]>(
        "UPDATE cache_entries SET used = ?, hits = hits + 1 WHERE ns = ? AND key = ?",
      ),
      sizeOf: db.prepare<[string, string], { bytes: number }>(
        "SELECT bytes FROM cache_entries WHERE ns = ? AND key = ?",
      ),
      delete: db.prepare<[string, string]>("DELETE FROM cache_entries WHERE ns = ? AND key = ?"),
      insert: db.prepare(
        "INSERT INTO cache_entries (ns, key, value, label, bytes, created, expires, used, hits) " +
          "VALUES (@ns, @key, @value, @label, @bytes, @created, @expires, @used, 0)",
      ),
      oldest: db.prepare<[string, number], { key: string; bytes: number }>(
        "SELECT key, bytes FROM cache_entries WHERE ns = ? ORDER BY used LIMIT ?",
      ),
      list: db.prepare<[string], Omit<Row, "value">>(
        "SELECT key, label, bytes, created, expires, hits FROM cache_entries WHERE ns = ? ORDER BY used DESC",
      ),
      clear: db.prepare<[string]>("DELETE FROM cache_entries WHERE ns = ?"),
      expire: db.prepare<[string, number]>("DELETE FROM cache_entries WHERE ns = ? AND expires <= ?"),
      totals: db.prepare<[string], { entries: number; bytes: number; used: number }>(
        "SELECT count(*) AS entries, coalesce(sum(bytes), 0) AS bytes, coalesce(max(used), 0) AS used " +
          "FROM cache_entries WHERE ns = ?",
      ),
    };
    this.statements = s;
    this.putTransaction = db.transaction((entry: NewEntry<T>, at: number) => {
      this.remove(entry.key);
      if (!fits(entry.bytes, this.bounds)) return;
      s.insert.run({
        ns: this.ns,
        key: entry.key,
        value: JSON.stringify(entry.value),
        label: entry.label ?? null,
        bytes: entry.bytes,
        created: entry.created,
        expires: entry.expires ?? null,
        used: this.stamp(at),
      });
      this.entries++;
      this.bytes += entry.bytes;
      this.evict();
    });
    // The check on start: expired entries go, and a bound lowered since the last run is applied.
    db.transaction(() => {
      s.expire.run(ns, now);
      const totals = s.totals.get(ns) ?? { entries: 0, bytes: 0, used: 0 };
      this.entries = totals.entries;
      this.bytes = totals.bytes;
      this.tick = totals.used;
      this.evict();
    })();
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries, bytes: this.bytes };
  }

  get(key: string, now: number): StoredEntry<T> | undefined {
    const row = this.statements.get.get(this.ns, key);
    if (!row) return undefined;
    if (row.expires !== null && row.expires <= now) {
      this.remove(key);
      return undefined;
    }
    this.statements.touch.run(this.stamp(now), this.ns, key);
    return { ...entryOf(row), value: JSON.parse(row.value) as T, hits: row.hits + 1 };
  }

  put(entry: NewEntry<T>, now: number): void {
    this.putTransaction(entry, now);
  }

  delete(key: string): boolean {
    return this.remove(key);
  }

  list(): Omit<StoredEntry<T>, "value">[] {
    return this.statements.list.all(this.ns).map(entryOf);
  }

  clear(): number {
    const { changes } = this.statements.clear.run(this.ns);
    this.entries = 0;
    this.bytes = 0;
    return changes;
  }

  private remove(key: string): boolean {
    const old = this.statements.sizeOf.get(this.ns, key);
    if (!old) return false;
    this.statements.delete.run(this.ns, key);
    this.entries--;
    this.bytes -= old.bytes;
    return true;
  }

  private evict(): void {
    const maxEntries = this.bounds.maxEntries ?? Number.POSITIVE_INFINITY;
    while (this.bytes > this.bounds.maxBytes || this.entries > maxEntries) {
      const oldest = this.statements.oldest.all(this.ns, EVICT_BATCH);
      if (oldest.length === 0) break;
      for (const { key, bytes } of oldest) {
        if (this.bytes <= this.bounds.maxBytes && this.entries <= maxEntries) break;
        this.statements.delete.run(this.ns, key);
        this.entries--;
        this.bytes -= bytes;
      }
    }
  }

  private stamp(now: number): number {
    this.tick = Math.max(now, this.tick + 1);
    return this.tick;
  }
}

function entryOf(row: Omit<Row, "value">): Omit<StoredEntry<never>, "value"> {
  return {
    key: row.key,
    ...(row.label !== null && { label: row.label }),
    bytes: row.bytes,
    created: row.created,
    ...(row.expires !== null && { expires: row.expires }),
    hits: row.hits,
  };
}
