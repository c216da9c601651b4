import Database from "better-sqlite3";
import { ConversationFullError } from "../provider/errors.js";
import type { ResponseStore, StoredResponse } from "./response-store.js";

/**
 * Stored Responses (`previous_response_id`, `item_reference`, `GET /v1/responses/{id}`) and OpenAI's
 * Conversations, in the state file so they survive a restart. Each response is one JSON row, its output items
 * indexed by id; each conversation item is one row in its conversation's order. Both are bounded by age, count
 * and bytes; the oldest go first.
 */
export const CONVERSATION_SCHEMA = `
  CREATE TABLE stored_responses (
    id TEXT PRIMARY KEY, owner TEXT, body TEXT NOT NULL, bytes INTEGER NOT NULL,
    created INTEGER NOT NULL, expires INTEGER NOT NULL
  );
  CREATE INDEX stored_responses_created ON stored_responses (created);
  CREATE TABLE stored_response_items (item_id TEXT PRIMARY KEY, response_id TEXT NOT NULL);
  CREATE INDEX stored_response_items_response ON stored_response_items (response_id);
  CREATE TABLE conversations (
    id TEXT PRIMARY KEY, owner TEXT, metadata TEXT NOT NULL, created INTEGER NOT NULL,
    updated INTEGER NOT NULL, bytes INTEGER NOT NULL DEFAULT 0, items INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX conversations_owner ON conversations (owner, updated, id);
  CREATE TABLE conversation_items (
    conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL,
    bytes INTEGER NOT NULL, created INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, seq)
  ) WITHOUT ROWID;
  CREATE UNIQUE INDEX conversation_items_id ON conversation_items (id);
`;

export interface ResponseStoreBounds {
  /** Most responses kept. */
  maxEntries: number;
  /** Most bytes kept (JSON size of the entries). */
  maxBytes: number;
  /** How long a response is kept after it was made, in ms. */
  ttlMs: number;
}

/** The state file's ResponseStore: as MemoryResponseStore, but on disk. */
export class SqliteResponseStore implements ResponseStore {
  private readonly statements;

  constructor(
    private readonly db: Database.Database,
    private readonly bounds: ResponseStoreBounds,
    private readonly now: () => number = Date.now,
  ) {
    this.statements = {
      get: db.prepare<[string, number], { body: string }>(
        "SELECT body FROM stored_responses WHERE id = ? AND expires > ?",
      ),
      insert: db.prepare<[string, string | null, string, number, number, number]>(
        "INSERT OR REPLACE INTO stored_responses (id, owner, body, bytes, created, expires) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      insertItem: db.prepare<[string, string]>(
        "INSERT OR REPLACE INTO stored_response_items (item_id, response_id) VALUES (?, ?)",
      ),
      remove: db.prepare<[string]>("DELETE FROM stored_responses WHERE id = ?"),
      removeItems: db.prepare<[string]>("DELETE FROM stored_response_items WHERE response_id = ?"),
      itemOwner: db.prepare<[string], { response_id: string }>(
        "SELECT response_id FROM stored_response_items WHERE item_id = ?",
      ),
      totals: db.prepare<[], { n: number; bytes: number | null }>(
        "SELECT count(*) AS n, sum(bytes) AS bytes FROM stored_responses",
      ),
      oldest: db.prepare<[number], { id: string }>(
        "SELECT id FROM stored_responses ORDER BY created LIMIT ?",
      ),
      expired: db.prepare<[number], { id: string }>("SELECT id FROM stored_responses WHERE expires <= ?"),
    };
  }

  get(id: string): StoredResponse | undefined {
    const row = this.statements.get.get(id, this.now());
    return row ? (JSON.parse(row.body) as StoredResponse) : undefined;
  }

  put(stored: StoredResponse): void {
    const body = JSON.stringify(stored);
    const bytes = Buffer.byteLength(body);
    // One answer larger than the whole store is not kept: it would evict everything else for nothing.
    if (bytes > this.bounds.maxBytes) return;
    const now = this.now();
    this.db.transaction(() => {
      this.removeOne(stored.response.id);
      this.statements.insert.run(stored.response.id, stored.owner, body, bytes, now, now + this.bounds.ttlMs);
      for (const item of stored.items) this.statements.insertItem.run(item.id, stored.response.id);
      for (const { id } of this.statements.expired.all(now)) this.removeOne(id);
      for (;;) {
        const { n, bytes: total } = this.statements.totals.get() as { n: number; bytes: number | null };
        if (n <= this.bounds.maxEntries && (total ?? 0) <= this.bounds.maxBytes) break;
        const over = Math.max(1, n - this.bounds.maxEntries);
        for (const { id } of this.statements.oldest.all(over)) this.removeOne(id);
      }
    })();
  }

  delete(id: string): boolean {
    const present = this.get(id) !== undefined;
    this.db.transaction(() => this.removeOne(id))();
    return present;
  }

  item(id: string) {
    const owner = this.statements.itemOwner.get(id);
    const stored = owner ? this.get(owner.response_id) : undefined;
    const item = stored?.items.find((i) => i.id === id);
    return item && stored ? { ...item, owner: stored.owner } : undefined;
  }

  private removeOne(id: string): void {
    this.statements.remove.run(id);
    this.statements.removeItems.run(id);
  }
}

/** A conversation as stored. */
export interface ConversationRecord {
  id: string;
  owner: string | null;
  metadata: Record<string, string>;
  /** Unix seconds. */
  createdAt: number;
  items: number;
  bytes: number;
}

interface ConversationRow {
  id: string;
  owner: string | null;
  metadata: string;
  created: number;
  items: number;
  bytes: number;
}

function toRecord(row: ConversationRow): ConversationRecord {
  return {
    id: row.id,
    owner: row.owner,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    createdAt: row.created,
    items: row.items,
    bytes: row.bytes,
  };
}

/** One item of a conversation: its id and its body in the shape OpenAI's Conversations API gives it. */
export interface ConversationItemRecord {
  id: string;
  body: Record<string, unknown> & { id: string; type: string };
}

export interface ConversationBounds {
  /** Conversations one owner may keep; the least recently updated go first. */
  maxPerOwner: number;
  /** Items one conversation may hold: adding more is refused. */
  maxItems: number;
  /** Bytes one conversation may hold: adding more is refused. */
  maxBytes: number;
  /** Conversations not updated for this long are removed, in ms. */
  ttlMs: number;
}

/** The state file's conversations: create, read, update, delete, and items in order. */
export class SqliteConversationStore {
  private readonly statements;

  constructor(
    private readonly db: Database.Database,
    readonly bounds: ConversationBounds,
    private readonly now: () => number = Date.now,
  ) {
    this.statements = {
      insert: db.prepare<[string, string | null, string, number, number]>(
        "INSERT INTO conversations (id, owner, metadata, created, updated) VALUES (?, ?, ?, ?, ?)",
      ),
      get: db.prepare<[string, number], ConversationRow>(
        "SELECT id, owner, metadata, created, items, bytes FROM conversations WHERE id = ? AND updated > ?",
      ),
      setMetadata: db.prepare<[string, number, string]>(
        "UPDATE conversations SET metadata = ?, updated = ? WHERE id = ?",
      ),
      touch: db.prepare<[number, number, number, string]>(
        "UPDATE conversations SET items = items + ?, bytes = bytes + ?, updated = ? WHERE id = ?",
      ),
      remove: db.prepare<[string]>("DELETE FROM conversations WHERE id = ?"),
      removeItems: db.prepare<[string]>("DELETE FROM conversation_items WHERE conversation_id = ?"),
      lastSeq: db.prepare<[string], { seq: number | null }>(
        "SELECT max(seq) AS seq FROM conversation_items WHERE conversation_id = ?",
      ),
      insertItem: db.prepare<[string, number, string, string, number, number]>(
        "INSERT INTO conversation_items (conversation_id, seq, id, body, bytes, created) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      item: db.prepare<[string, string], { body: string; bytes: number; seq: number }>(
        "SELECT body, bytes, seq FROM conversation_items WHERE conversation_id = ? AND id = ?",
      ),
      removeItem: db.prepare<[string, string]>(
        "DELETE FROM conversation_items WHERE conversation_id = ? AND id = ?",
      ),
      itemsAsc: db.prepare<[string, number, number], { body: string; seq: number }>(
        "SELECT body, seq FROM conversation_items WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?",
      ),
      itemsDesc: db.prepare<[string, number, number], { body: string; seq: number }>(
        "SELECT body, seq FROM conversation_items WHERE conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
      ),
      ownerCount: db.prepare<[string | null], { n: number }>(
        "SELECT count(*) AS n FROM conversations WHERE owner IS ?",
      ),
      ownerOldest: db.prepare<[string | null, number], { id: string }>(
        "SELECT id FROM conversations WHERE owner IS ? ORDER BY updated LIMIT ?",
      ),
      expired: db.prepare<[number], { id: string }>(
        "SELECT id FROM conversations WHERE updated <= ? LIMIT 100",
      ),
      list: db.prepare<
        [string | null, number, number, number, string, number],
        ConversationRow & { updated: number }
      >(
        `SELECT id, owner, metadata, created, items, bytes, updated FROM conversations
         WHERE owner IS ? AND updated > ? AND (updated < ? OR (updated = ? AND id < ?))
         ORDER BY updated DESC, id DESC LIMIT ?`,
      ),
      updatedOf: db.prepare<[string], { updated: number }>("SELECT updated FROM conversations WHERE id = ?"),
    };
  }

  /** The two stores in memory, for a server without a state file (gone when it stops). */
  static inMemory(
    bounds: ConversationBounds,
    responseBounds: ResponseStoreBounds,
  ): { conversations: SqliteConversationStore; responses: SqliteResponseStore } {
    const db = new Database(":memory:");
    db.exec(CONVERSATION_SCHEMA);
    return {
      conversations: new SqliteConversationStore(db, bounds),
      responses: new SqliteResponseStore(db, responseBounds),
    };
  }

  create(
    id: string,
    owner: string | null,
    metadata: Record<string, string>,
    items: ConversationItemRecord[],
  ): ConversationRecord {
    const now = this.now();
    this.db.transaction(() => {
      for (const { id: old } of this.statements.expired.all(now - this.bounds.ttlMs)) this.removeOne(old);
      const { n } = this.statements.ownerCount.get(owner) as { n: number };
      if (n >= this.bounds.maxPerOwner)
        for (const { id: old } of this.statements.ownerOldest.all(owner, n - this.bounds.maxPerOwner + 1))
          this.removeOne(old);
      this.statements.insert.run(id, owner, JSON.stringify(metadata), Math.floor(now / 1000), now);
      this.append(id, items, now);
    })();
    return this.get(id) as ConversationRecord;
  }

  get(id: string): ConversationRecord | undefined {
    const row = this.statements.get.get(id, this.now() - this.bounds.ttlMs);
    return row ? toRecord(row) : undefined;
  }

  /**
   * An owner's conversations, the most recently used first, `limit` at most after the conversation `after`
   * (undefined when that is not one of them), and whether more follow.
   */
  list(
    owner: string | null,
    options: { after?: string; limit: number },
  ): { conversations: (ConversationRecord & { updatedAt: number })[]; hasMore: boolean } | undefined {
    let updated = Number.MAX_SAFE_INTEGER;
    let id = "";
    if (options.after !== undefined) {
      const cursor = this.get(options.after);
      if (!cursor || cursor.owner !== owner) return undefined;
      updated = this.statements.updatedOf.get(options.after)?.updated ?? 0;
      id = options.after;
    }
    const rows = this.statements.list.all(
      owner,
      this.now() - this.bounds.ttlMs,
      updated,
      options.after === undefined ? -1 : updated,
      id,
      options.limit + 1,
    );
    return {
      conversations: rows
        .slice(0, options.limit)
        .map((r) => ({ ...toRecord(r), updatedAt: Math.floor(r.updated / 1000) })),
      hasMore: rows.length > options.limit,
    };
  }

  setMetadata(id: string, metadata: Record<string, string>): void {
    this.statements.setMetadata.run(JSON.stringify(metadata), this.now(), id);
  }

  delete(id: string): void {
    this.db.transaction(() => this.removeOne(id))();
  }

  /**
   * Appends items in order, in one transaction; throws ConversationFullError (and appends nothing) past the
   * bounds. Two writers to one conversation are serialized by the database: both are kept, one after the other.
   */
  add(id: string, items: ConversationItemRecord[]): void {
    this.db.transaction(() => this.append(id, items, this.now()))();
  }

  item(id: string, itemId: string): ConversationItemRecord | undefined {
    const row = this.statements.item.get(id, itemId);
    return row ? { id: itemId, body: JSON.parse(row.body) } : undefined;
  }

  deleteItem(id: string, itemId: string): boolean {
    return this.db.transaction(() => {
      const row = this.statements.item.get(id, itemId);
      if (!row) return false;
      this.statements.removeItem.run(id, itemId);
      this.statements.touch.run(-1, -row.bytes, this.now(), id);
      return true;
    })();
  }

  /** Items after (ascending) or before (descending) the item `after`, at most `limit`, and whether more follow. */
  items(
    id: string,
    options: { after?: string; limit: number; order: "asc" | "desc" },
  ): { items: ConversationItemRecord[]; hasMore: boolean } | undefined {
    const asc = options.order === "asc";
    let from = asc ? -1 : Number.MAX_SAFE_INTEGER;
    if (options.after !== undefined) {
      const cursor = this.statements.item.get(id, options.after);
      if (!cursor) return undefined;
      from = cursor.seq;
    }
    const rows = (asc ? this.statements.itemsAsc : this.statements.itemsDesc).all(
      id,
      from,
      options.limit + 1,
    );
    return {
      items: rows.slice(0, options.limit).map((r) => {
        const body = JSON.parse(r.body) as ConversationItemRecord["body"];
        return { id: body.id, body };
      }),
      hasMore: rows.length > options.limit,
    };
  }

  private append(id: string, items: ConversationItemRecord[], now: number): void {
    const record = this.get(id);
    if (!record) throw new Error(`conversation ${id} is gone`);
    const bodies = items.map((i) => JSON.stringify(i.body));
    const bytes = bodies.reduce((sum, b) => sum + Buffer.byteLength(b), 0);
    if (record.items + items.length > this.bounds.maxItems)
      throw new ConversationFullError(
        `the conversation would hold ${record.items + items.length} items, over its limit of ${this.bounds.maxItems}`,
      );
    if (record.bytes + bytes > this.bounds.maxBytes)
      throw new ConversationFullError(
        `the conversation would hold ${record.bytes + bytes} bytes, over its limit of ${this.bounds.maxBytes}`,
      );
    let seq = (this.statements.lastSeq.get(id)?.seq ?? -1) + 1;
    for (const [i, item] of items.entries())
      this.statements.insertItem.run(
        id,
        seq++,
        item.id,
        bodies[i] as string,
        Buffer.byteLength(bodies[i] as string),
        now,
      );
    this.statements.touch.run(items.length, bytes, now, id);
  }

  private removeOne(id: string): void {
    this.statements.remove.run(id);
    this.statements.removeItems.run(id);
  }
}
