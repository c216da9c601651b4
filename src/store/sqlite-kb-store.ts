import Database from "better-sqlite3";
import type {
  BatchRecord,
  ChunkInput,
  ChunkRecord,
  ChunkTerms,
  FileCounts,
  FileRecord,
  KbStore,
  LexicalHit,
  Owner,
  Page,
  PageQuery,
  StoreFileRecord,
  StoreFileStatus,
  StoreRecord,
} from "./kb-store.js";

/**
 * The knowledge base's tables. The lexical index is SQLite's FTS5 (BM25 ranking, crash-safe with the rest of
 * the file), contentless: it holds the terms our analyzer made (`kb/analyze.ts`, space-separated, so FTS5's
 * own tokenizer only splits them at the spaces), while the text lives in `kb_chunks`. Its first column is the
 * chunk's store as one token, so a search restricted to some stores is one MATCH expression, weighted 0 in
 * the ranking. Each field also holds the characters of its Chinese words (ingestion's `indexed` terms), after its terms:
 * a question's single characters find the words they are part of, and their frequencies count those words.
 * `kb_chunks.terms` keeps the terms alone (what scoring reads).
 */
export const KB_SCHEMA = `
  CREATE TABLE kb_files (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, owner TEXT, filename TEXT NOT NULL, purpose TEXT NOT NULL,
    bytes INTEGER NOT NULL, created INTEGER NOT NULL, expires INTEGER, data BLOB NOT NULL
  );
  CREATE INDEX kb_files_owner ON kb_files (owner, seq);
  CREATE TABLE kb_stores (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, owner TEXT, name TEXT NOT NULL, created INTEGER NOT NULL,
    last_active INTEGER NOT NULL, metadata TEXT NOT NULL, expires_after TEXT, embedding_model TEXT,
    version INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX kb_stores_owner ON kb_stores (owner, seq);
  CREATE TABLE kb_store_files (
    seq INTEGER PRIMARY KEY, store_id TEXT NOT NULL, file_id TEXT NOT NULL, created INTEGER NOT NULL,
    status TEXT NOT NULL, last_error TEXT, chunking TEXT NOT NULL, attributes TEXT NOT NULL,
    usage_bytes INTEGER NOT NULL DEFAULT 0, chunk_count INTEGER NOT NULL DEFAULT 0, batch_id TEXT,
    UNIQUE (store_id, file_id)
  );
  CREATE INDEX kb_store_files_file ON kb_store_files (file_id);
  CREATE INDEX kb_store_files_status ON kb_store_files (status, seq);
  CREATE INDEX kb_store_files_batch ON kb_store_files (batch_id);
  CREATE TABLE kb_batches (id TEXT PRIMARY KEY, store_id TEXT NOT NULL, created INTEGER NOT NULL, cancelled INTEGER NOT NULL);
  CREATE TABLE kb_chunks (
    id INTEGER PRIMARY KEY, store_id TEXT NOT NULL, file_id TEXT NOT NULL, idx INTEGER NOT NULL, text TEXT NOT NULL,
    heading TEXT NOT NULL, tokens INTEGER NOT NULL, page INTEGER, terms TEXT NOT NULL, vector BLOB
  );
  CREATE INDEX kb_chunks_file ON kb_chunks (store_id, file_id, idx);
  CREATE VIRTUAL TABLE kb_fts USING fts5(
    scope, title, heading, body, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 0'
  );
  CREATE VIRTUAL TABLE kb_fts_vocab USING fts5vocab(kb_fts, 'row');
`;

/** BM25 weights of the title, heading and text columns: a term in a heading says more than one in the text. */
const WEIGHTS = [0, 3, 2, 1] as const;
/** Separates the title, heading and body terms in `kb_chunks.terms`. */
const FIELD_SEPARATOR = "\u0001";

interface FileRow {
  id: string;
  owner: Owner;
  filename: string;
  purpose: string;
  bytes: number;
  created: number;
  expires: number | null;
}

interface StoreRow {
  id: string;
  owner: Owner;
  name: string;
  created: number;
  last_active: number;
  metadata: string;
  expires_after: string | null;
  embedding_model: string | null;
}

interface StoreFileRow {
  store_id: string;
  file_id: string;
  created: number;
  status: StoreFileStatus;
  last_error: string | null;
  chunking: string;
  attributes: string;
  usage_bytes: number;
  chunk_count: number;
  batch_id: string | null;
}

interface ChunkRow {
  id: number;
  store_id: string;
  file_id: string;
  idx: number;
  text: string;
  heading: string;
  tokens: number;
  page: number | null;
}

/** The token a store's chunks carry in the index's scope column: its id's letters and digits. */
export function scopeToken(storeId: string): string {
  return storeId.replace(/[^A-Za-z0-9]/g, "").toLowerCase();
}

/** A term as an FTS5 string literal: quoted, its quotes doubled, so no term is ever query syntax. */
function literal(term: string): string {
  return `"${term.replaceAll('"', '""')}"`;
}

export class SqliteKbStore implements KbStore {
  /**
   * Every statement, prepared once and held for the process's life (see StateDb.held: on Node 24 a
   * statement the garbage collector frees can abort the process).
   */
  private readonly held = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  /** A store in a database of its own in memory (`--state-file off`): the same code, nothing kept. */
  static inMemory(): SqliteKbStore {
    const db = new Database(":memory:");
    db.exec(KB_SCHEMA);
    return new SqliteKbStore(db);
  }

  // biome-ignore lint/suspicious/noExplicitAny: each caller types its own statement.
  private sql<R = any>(text: string): Database.Statement<unknown[], R> {
    let statement = this.held.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.held.set(text, statement);
    }
    return statement as Database.Statement<unknown[], R>;
  }

  putFile(file: FileRecord, data: Uint8Array): void {
    this.sql(
      "INSERT INTO kb_files (id, owner, filename, purpose, bytes, created, expires, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ).run(
      file.id,
      file.owner,
      file.filename,
      file.purpose,
      file.bytes,
      file.createdAt,
      file.expiresAt,
      Buffer.from(data.buffer, data.byteOffset, data.byteLength),
    );
  }

  getFile(id: string): FileRecord | undefined {
    const row = this.sql<FileRow>(
      "SELECT id, owner, filename, purpose, bytes, created, expires FROM kb_files WHERE id = ?",
    ).get(id);
    return row && toFile(row);
  }

  fileData(id: string): Uint8Array | undefined {
    const row = this.sql<{ data: Buffer }>("SELECT data FROM kb_files WHERE id = ?").get(id);
    return row && new Uint8Array(row.data.buffer, row.data.byteOffset, row.data.byteLength);
  }

  listFiles(owner: Owner, query: PageQuery & { purpose?: string }): Page<FileRecord> {
    const rows = this.page<FileRow>(
      "kb_files",
      "id, owner, filename, purpose, bytes, created, expires",
      "owner IS ? AND (? IS NULL OR purpose = ?)",
      [owner, query.purpose ?? null, query.purpose ?? null],
      query,
    );
    return { data: rows.data.map(toFile), hasMore: rows.hasMore };
  }

  deleteFile(id: string): void {
    this.db.transaction(() => {
      for (const { store_id } of this.sql<{ store_id: string }>(
        "SELECT store_id FROM kb_store_files WHERE file_id = ?",
      ).all(id))
        this.deleteStoreFile(store_id, id);
      this.sql("DELETE FROM kb_files WHERE id = ?").run(id);
    })();
  }

  ownerBytes(owner: Owner): number {
    const files = this.sql<{ n: number | null }>("SELECT sum(bytes) AS n FROM kb_files WHERE owner IS ?").get(
      owner,
    );
    const chunks = this.sql<{ n: number | null }>(
      "SELECT sum(sf.usage_bytes) AS n FROM kb_store_files sf JOIN kb_stores s ON s.id = sf.store_id WHERE s.owner IS ?",
    ).get(owner);
    return (files?.n ?? 0) + (chunks?.n ?? 0);
  }

  putStore(store: StoreRecord): void {
    this.sql(
      "INSERT INTO kb_stores (id, owner, name, created, last_active, metadata, expires_after, embedding_model) " +
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, " +
        "last_active = excluded.last_active, metadata = excluded.metadata, expires_after = excluded.expires_after, " +
        "embedding_model = excluded.embedding_model",
    ).run(
      store.id,
      store.owner,
      store.name,
      store.createdAt,
      store.lastActiveAt,
      JSON.stringify(store.metadata),
      store.expiresAfter && JSON.stringify(store.expiresAfter),
      store.embeddingModel,
    );
  }

  getStore(id: string): StoreRecord | undefined {
    const row = this.sql<StoreRow>("SELECT * FROM kb_stores WHERE id = ?").get(id);
    return row && toStore(row);
  }

  listStores(owner: Owner, query: PageQuery): Page<StoreRecord> {
    const rows = this.page<StoreRow>("kb_stores", "*", "owner IS ?", [owner], query);
    return { data: rows.data.map(toStore), hasMore: rows.hasMore };
  }

  deleteStore(id: string): void {
    this.db.transaction(() => {
      for (const { file_id } of this.sql<{ file_id: string }>(
        "SELECT file_id FROM kb_store_files WHERE store_id = ?",
      ).all(id))
        this.deleteStoreFile(id, file_id);
      this.sql("DELETE FROM kb_batches WHERE store_id = ?").run(id);
      this.sql("DELETE FROM kb_stores WHERE id = ?").run(id);
    })();
  }

  storeBytes(storeId: string): number {
    return (
      this.sql<{ n: number | null }>(
        "SELECT sum(usage_bytes) AS n FROM kb_store_files WHERE store_id = ?",
      ).get(storeId)?.n ?? 0
    );
  }

  putStoreFiles(records: readonly StoreFileRecord[]): void {
    const remove = this.sql("DELETE FROM kb_store_files WHERE store_id = ? AND file_id = ?");
    const insert = this.sql(
      "INSERT INTO kb_store_files (store_id, file_id, created, status, last_error, chunking, attributes, batch_id) " +
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.db.transaction(() => {
      for (const record of records) {
        this.removeChunks(record.storeId, record.fileId);
        remove.run(record.storeId, record.fileId);
        insert.run(
          record.storeId,
          record.fileId,
          record.createdAt,
          record.status,
          record.lastError && JSON.stringify(record.lastError),
          JSON.stringify(record.chunking),
          JSON.stringify(record.attributes),
          record.batchId,
        );
      }
    })();
  }

  getStoreFile(storeId: string, fileId: string): StoreFileRecord | undefined {
    const row = this.sql<StoreFileRow>("SELECT * FROM kb_store_files WHERE store_id = ? AND file_id = ?").get(
      storeId,
      fileId,
    );
    return row && toStoreFile(row);
  }

  listStoreFiles(
    storeId: string,
    query: PageQuery & { status?: StoreFileStatus; batchId?: string },
  ): Page<StoreFileRecord> {
    const rows = this.page<StoreFileRow>(
      "kb_store_files",
      "*",
      "store_id = ? AND (? IS NULL OR status = ?) AND (? IS NULL OR batch_id = ?)",
      [storeId, query.status ?? null, query.status ?? null, query.batchId ?? null, query.batchId ?? null],
      query,
      "file_id",
      "store_id = ? AND file_id = ?",
      [storeId],
    );
    return { data: rows.data.map(toStoreFile), hasMore: rows.hasMore };
  }

  setAttributes(storeId: string, fileId: string, attributes: StoreFileRecord["attributes"]): void {
    this.sql("UPDATE kb_store_files SET attributes = ? WHERE store_id = ? AND file_id = ?").run(
      JSON.stringify(attributes),
      storeId,
      fileId,
    );
  }

  finishStoreFile(
    storeId: string,
    fileId: string,
    status: "failed" | "cancelled",
    error: StoreFileRecord["lastError"],
  ): boolean {
    return this.db.transaction(() => {
      const changed = this.sql(
        "UPDATE kb_store_files SET status = ?, last_error = ? WHERE store_id = ? AND file_id = ? AND status = 'in_progress'",
      ).run(status, error && JSON.stringify(error), storeId, fileId).changes;
      if (changed) this.removeChunks(storeId, fileId);
      return changed > 0;
    })();
  }

  completeStoreFile(storeId: string, fileId: string, chunks: readonly ChunkInput[]): boolean {
    return this.db.transaction(() => {
      const current = this.sql<{ status: string }>(
        "SELECT status FROM kb_store_files WHERE store_id = ? AND file_id = ?",
      ).get(storeId, fileId);
      if (current?.status !== "in_progress") return false;
      this.removeChunks(storeId, fileId);
      const insert = this.sql(
        "INSERT INTO kb_chunks (store_id, file_id, idx, text, heading, tokens, page, terms, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      );
      const index = this.sql(
        "INSERT INTO kb_fts (rowid, scope, title, heading, body) VALUES (?, ?, ?, ?, ?)",
      );
      const scope = scopeToken(storeId);
      let bytes = 0;
      chunks.forEach((chunk, i) => {
        const heading = JSON.stringify(chunk.headingPath);
        const { title, heading: headingTerms, body } = chunk.terms;
        const terms = [title.join(" "), headingTerms.join(" "), body.join(" ")];
        const vector = chunk.vector
          ? Buffer.from(chunk.vector.buffer, chunk.vector.byteOffset, chunk.vector.byteLength)
          : null;
        const { lastInsertRowid } = insert.run(
          storeId,
          fileId,
          i,
          chunk.text,
          heading,
          chunk.tokens,
          chunk.page ?? null,
          terms.join(FIELD_SEPARATOR),
          vector,
        );
        const indexed = chunk.indexed ?? chunk.terms;
        index.run(
          lastInsertRowid,
          scope,
          ...[indexed.title, indexed.heading, indexed.body].map((field) => field.join(" ")),
        );
        bytes += Buffer.byteLength(chunk.text) + heading.length + (vector?.byteLength ?? 0);
      });
      this.sql(
        "UPDATE kb_store_files SET status = 'completed', last_error = NULL, usage_bytes = ?, chunk_count = ? " +
          "WHERE store_id = ? AND file_id = ?",
      ).run(bytes, chunks.length, storeId, fileId);
      this.bump(storeId);
      return true;
    })();
  }

  deleteStoreFile(storeId: string, fileId: string): boolean {
    return this.db.transaction(() => {
      this.removeChunks(storeId, fileId);
      return (
        this.sql("DELETE FROM kb_store_files WHERE store_id = ? AND file_id = ?").run(storeId, fileId)
          .changes > 0
      );
    })();
  }

  fileCounts(storeId: string, batchId?: string): FileCounts {
    const counts: FileCounts = { in_progress: 0, completed: 0, failed: 0, cancelled: 0, total: 0 };
    const rows = this.sql<{ status: StoreFileStatus; n: number }>(
      "SELECT status, count(*) AS n FROM kb_store_files WHERE store_id = ? AND (? IS NULL OR batch_id = ?) GROUP BY status",
    ).all(storeId, batchId ?? null, batchId ?? null);
    for (const { status, n } of rows) {
      counts[status] = n;
      counts.total += n;
    }
    return counts;
  }

  pending(): StoreFileRecord[] {
    return this.sql<StoreFileRow>("SELECT * FROM kb_store_files WHERE status = 'in_progress' ORDER BY seq")
      .all()
      .map(toStoreFile);
  }

  putBatch(batch: BatchRecord): void {
    this.sql("INSERT INTO kb_batches (id, store_id, created, cancelled) VALUES (?, ?, ?, ?)").run(
      batch.id,
      batch.storeId,
      batch.createdAt,
      batch.cancelled ? 1 : 0,
    );
  }

  getBatch(id: string): BatchRecord | undefined {
    const row = this.sql<{ id: string; store_id: string; created: number; cancelled: number }>(
      "SELECT * FROM kb_batches WHERE id = ?",
    ).get(id);
    return (
      row && { id: row.id, storeId: row.store_id, createdAt: row.created, cancelled: row.cancelled === 1 }
    );
  }

  cancelBatch(id: string): void {
    this.db.transaction(() => {
      this.sql("UPDATE kb_batches SET cancelled = 1 WHERE id = ?").run(id);
      const batch = this.getBatch(id);
      if (!batch) return;
      for (const { file_id } of this.sql<{ file_id: string }>(
        "SELECT file_id FROM kb_store_files WHERE batch_id = ? AND status = 'in_progress'",
      ).all(id))
        this.finishStoreFile(batch.storeId, file_id, "cancelled", null);
    })();
  }

  chunksOf(storeId: string, fileId: string): ChunkRecord[] {
    return this.sql<ChunkRow>(
      "SELECT id, store_id, file_id, idx, text, heading, tokens, page FROM kb_chunks WHERE store_id = ? AND file_id = ? ORDER BY idx",
    )
      .all(storeId, fileId)
      .map(toChunk);
  }

  chunks(ids: readonly number[]): ChunkRecord[] {
    const get = this.sql<ChunkRow>(
      "SELECT id, store_id, file_id, idx, text, heading, tokens, page FROM kb_chunks WHERE id = ?",
    );
    return ids.flatMap((id) => {
      const row = get.get(id);
      return row ? [toChunk(row)] : [];
    });
  }

  lexicalSearch(storeIds: readonly string[], terms: readonly string[], limit: number): LexicalHit[] {
    if (storeIds.length === 0 || terms.length === 0) return [];
    const match =
      `scope : (${storeIds.map((id) => literal(scopeToken(id))).join(" OR ")}) AND ` +
      `{title heading body} : (${[...new Set(terms)].map(literal).join(" OR ")})`;
    const rows = this.sql<{ id: number; score: number; store_id: string; file_id: string }>(
      `SELECT f.rowid AS id, bm25(kb_fts, ${WEIGHTS.join(", ")}) AS score, c.store_id, c.file_id
         FROM kb_fts f JOIN kb_chunks c ON c.id = f.rowid
        WHERE kb_fts MATCH ? ORDER BY score LIMIT ?`,
    ).all(match, limit);
    // FTS5's bm25() is negative, lower being better.
    return rows.map((r) => ({ chunkId: r.id, storeId: r.store_id, fileId: r.file_id, score: -r.score }));
  }

  termStats(terms: readonly string[]): { docs: number; df: Map<string, number> } {
    // Chunk and document frequencies over the whole index: one cheap lookup per term, and with several
    // stores of a size the IDF differs little from the stores' own.
    const docs = this.sql<{ n: number }>("SELECT count(*) AS n FROM kb_chunks").get()?.n ?? 0;
    const get = this.sql<{ doc: number }>("SELECT doc FROM kb_fts_vocab WHERE term = ?");
    const df = new Map<string, number>();
    for (const term of new Set(terms)) df.set(term, get.get(term)?.doc ?? 0);
    return { docs, df };
  }

  chunkTerms(ids: readonly number[]): Map<number, ChunkTerms> {
    const get = this.sql<{ terms: string }>("SELECT terms FROM kb_chunks WHERE id = ?");
    const out = new Map<number, ChunkTerms>();
    const split = (field: string | undefined) => (field ? field.split(" ").filter(Boolean) : []);
    for (const id of ids) {
      const row = get.get(id);
      if (!row) continue;
      const [title, heading, body] = row.terms.split(FIELD_SEPARATOR);
      out.set(id, { title: split(title), heading: split(heading), body: split(body) });
    }
    return out;
  }

  vectors(storeId: string): { ids: number[]; vectors: Float32Array[] } {
    const ids: number[] = [];
    const vectors: Float32Array[] = [];
    for (const row of this.sql<{ id: number; vector: Buffer }>(
      "SELECT id, vector FROM kb_chunks WHERE store_id = ? AND vector IS NOT NULL",
    ).iterate(storeId)) {
      ids.push(row.id);
      vectors.push(
        new Float32Array(
          row.vector.buffer.slice(row.vector.byteOffset, row.vector.byteOffset + row.vector.byteLength),
        ),
      );
    }
    return { ids, vectors };
  }

  version(storeId: string): number {
    return (
      this.sql<{ version: number }>("SELECT version FROM kb_stores WHERE id = ?").get(storeId)?.version ?? -1
    );
  }

  expired(now: number): { stores: string[]; files: string[] } {
    const stores = this.sql<{ id: string; last_active: number; expires_after: string }>(
      "SELECT id, last_active, expires_after FROM kb_stores WHERE expires_after IS NOT NULL",
    )
      .all()
      .filter((s) => s.last_active + (JSON.parse(s.expires_after) as { days: number }).days * 86_400 <= now)
      .map((s) => s.id);
    const files = this.sql<{ id: string }>(
      "SELECT id FROM kb_files WHERE expires IS NOT NULL AND expires <= ?",
    )
      .all(now)
      .map((f) => f.id);
    return { stores, files };
  }

  touchStore(id: string, now: number): void {
    this.sql("UPDATE kb_stores SET last_active = ? WHERE id = ?").run(now, id);
  }

  close(): void {
    if (this.db.open && this.db.name === ":memory:") this.db.close();
  }

  private removeChunks(storeId: string, fileId: string): void {
    const ids = this.sql<{ id: number }>("SELECT id FROM kb_chunks WHERE store_id = ? AND file_id = ?").all(
      storeId,
      fileId,
    );
    if (ids.length === 0) return;
    const unindex = this.sql("DELETE FROM kb_fts WHERE rowid = ?");
    for (const { id } of ids) unindex.run(id);
    this.sql("DELETE FROM kb_chunks WHERE store_id = ? AND file_id = ?").run(storeId, fileId);
    this.bump(storeId);
  }

  private bump(storeId: string): void {
    this.sql("UPDATE kb_stores SET version = version + 1 WHERE id = ?").run(storeId);
  }

  /**
   * One page of a table in insertion order, after or before the row with the given id (OpenAI's cursors),
   * fetching one row more than asked to know whether there are more.
   */
  private page<R>(
    table: string,
    columns: string,
    where: string,
    params: unknown[],
    query: PageQuery,
    idColumn = "id",
    cursorWhere = `${idColumn} = ?`,
    cursorParams: unknown[] = [],
  ): Page<R> {
    const dir = query.order === "asc" ? "ASC" : "DESC";
    const cursor = query.after ?? query.before;
    let bound = "";
    const args = [...params];
    if (cursor !== undefined) {
      const seq = this.sql<{ seq: number }>(`SELECT seq FROM ${table} WHERE ${cursorWhere}`).get(
        ...cursorParams,
        cursor,
      )?.seq;
      // An unknown cursor gives an empty page rather than the first one again.
      if (seq === undefined) return { data: [], hasMore: false };
      const after = query.after !== undefined;
      bound = ` AND seq ${(query.order === "asc") === after ? ">" : "<"} ?`;
      args.push(seq);
    }
    const rows = this.sql<R>(
      `SELECT ${columns} FROM ${table} WHERE ${where}${bound} ORDER BY seq ${dir} LIMIT ?`,
    ).all(...args, query.limit + 1);
    return { data: rows.slice(0, query.limit), hasMore: rows.length > query.limit };
  }
}

function toFile(row: FileRow): FileRecord {
  return {
    id: row.id,
    owner: row.owner,
    filename: row.filename,
    purpose: row.purpose,
    bytes: row.bytes,
    createdAt: row.created,
    expiresAt: row.expires,
  };
}

function toStore(row: StoreRow): StoreRecord {
  return {
    id: row.id,
    owner: row.owner,
    name: row.name,
    createdAt: row.created,
    lastActiveAt: row.last_active,
    metadata: JSON.parse(row.metadata),
    expiresAfter: row.expires_after ? JSON.parse(row.expires_after) : null,
    embeddingModel: row.embedding_model,
  };
}

function toStoreFile(row: StoreFileRow): StoreFileRecord {
  return {
    storeId: row.store_id,
    fileId: row.file_id,
    createdAt: row.created,
    status: row.status,
    lastError: row.last_error ? JSON.parse(row.last_error) : null,
    chunking: JSON.parse(row.chunking),
    attributes: JSON.parse(row.attributes),
    usageBytes: row.usage_bytes,
    chunkCount: row.chunk_count,
    batchId: row.batch_id,
  };
}

function toChunk(row: ChunkRow): ChunkRecord {
  return {
    id: row.id,
    storeId: row.store_id,
    fileId: row.file_id,
    index: row.idx,
    text: row.text,
    headingPath: JSON.parse(row.heading),
    tokens: row.tokens,
    ...(row.page !== null && { page: row.page }),
  };
}
