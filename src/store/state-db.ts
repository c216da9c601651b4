import { chmodSync, closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { ConfigError } from "../config/setting.js";
import type { StoreBounds } from "./entry-store.js";
import {
  CONVERSATION_SCHEMA,
  type ConversationBounds,
  type ResponseStoreBounds,
  SqliteConversationStore,
  SqliteResponseStore,
} from "./sqlite-conversation-store.js";
import { SqliteEntryStore } from "./sqlite-entry-store.js";
import { KB_SCHEMA, SqliteKbStore } from "./sqlite-kb-store.js";

/** Bumped with each change of the tables below; a file from a newer edgellm is refused, never rewritten. */
export const SCHEMA_VERSION = 3;

/** Each step takes the file from version i to i + 1. */
const MIGRATIONS = [
  `CREATE TABLE cache_entries (
     ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, label TEXT,
     bytes INTEGER NOT NULL, created INTEGER NOT NULL, expires INTEGER, used INTEGER NOT NULL,
     hits INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (ns, key)
   ) WITHOUT ROWID;
   CREATE INDEX cache_entries_used ON cache_entries (ns, used);
   CREATE TABLE daily_spend (day TEXT PRIMARY KEY, spent REAL NOT NULL, updated INTEGER NOT NULL);
   CREATE TABLE key_usage (
     label TEXT NOT NULL, day TEXT NOT NULL, tokens INTEGER NOT NULL, updated INTEGER NOT NULL,
     PRIMARY KEY (label, day)
   );`,
  // 2: the knowledge base (files, vector stores, chunks and their FTS5 index).
  KB_SCHEMA,
  // 3: stored responses and conversations.
  CONVERSATION_SCHEMA,
];

/** Days of spend and usage rows kept: enough for any day a clock can be on, few enough to bound the file. */
const SPEND_KEEP_MS = 62 * 86_400_000;
const USAGE_KEEP_MS = 3 * 86_400_000;
/** Where the write-ahead log is cut back to after a checkpoint, in bytes. */
const WAL_LIMIT_BYTES = 8 * 1024 * 1024;

export interface StateDbOptions {
  /** Clock, in ms. Default Date.now. */
  now?: () => number;
}

/**
 * edgellm's state file: answer caches, the daily cloud spend and per-key token usage, in one SQLite database
 * that survives a restart. Write-ahead log with `synchronous=NORMAL`: a crash (even `kill -9`) loses at most
 * the transactions in flight and never corrupts the file. The file is held with an exclusive lock for the
 * process's life (`locking_mode=EXCLUSIVE`; the kernel releases it if the process dies), so a second server on
 * the same file is refused at start instead of silently fighting over it. Prompts and answers are stored in
 * plain text, so the file is made readable by its owner only (0600).
 */
export class StateDb {
  private readonly db: Database.Database;
  private readonly now: () => number;
  private readonly spendGet: Database.Statement<[string], { spent: number }>;
  private readonly spendSet: Database.Statement<[string, number, number]>;
  private readonly usageGet: Database.Statement<[string, string], { tokens: number }>;
  private readonly usageSet: Database.Statement<[string, string, number, number]>;
  /**
   * Every statement this class prepares, held until the process ends. On Node 24 a better-sqlite3 statement
   * that the garbage collector frees outside a JavaScript context aborts the process (node::ObjectWrap's
   * destructor removes an environment cleanup hook, which needs a current context: "Assertion failed:
   * (env) != nullptr"); it did so in the container at startup (2026-11-24), after `db.pragma()` calls, which
   * prepare a statement each and drop it. So no statement here is ever dropped, and none is made per request.
   */
  private readonly held = new Map<string, Database.Statement>();

  constructor(
    readonly path: string,
    options: StateDbOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Created 0600 before SQLite opens it; SQLite gives the log files the database file's mode.
    closeSync(openSync(path, "a", 0o600));
    chmodSync(path, 0o600);
    this.db = new Database(path, { timeout: 1000 });
    try {
      this.pragma("locking_mode = EXCLUSIVE");
      this.pragma("journal_mode = WAL");
      this.pragma("synchronous = NORMAL");
      this.pragma(`journal_size_limit = ${WAL_LIMIT_BYTES}`);
      // A write takes the exclusive lock now, and keeps it until close.
      this.db.exec("BEGIN IMMEDIATE; COMMIT");
      this.migrate();
    } catch (error) {
      this.db.close();
      throw stateFileError(path, error);
    }
    this.spendGet = this.hold("SELECT spent FROM daily_spend WHERE day = ?");
    this.spendSet = this.hold(
      "INSERT INTO daily_spend (day, spent, updated) VALUES (?, ?, ?) " +
        "ON CONFLICT (day) DO UPDATE SET spent = excluded.spent, updated = excluded.updated",
    );
    this.usageGet = this.hold("SELECT tokens FROM key_usage WHERE label = ? AND day = ?");
    this.usageSet = this.hold(
      "INSERT INTO key_usage (label, day, tokens, updated) VALUES (?, ?, ?, ?) " +
        "ON CONFLICT (label, day) DO UPDATE SET tokens = excluded.tokens, updated = excluded.updated",
    );
    const now = this.now();
    this.hold("DELETE FROM daily_spend WHERE updated < ?").run(now - SPEND_KEEP_MS);
    this.hold("DELETE FROM key_usage WHERE updated < ?").run(now - USAGE_KEEP_MS);
  }

  /** Entries of one cache (`ns`), held within `bounds`: expired and excess entries go at once. */
  entryStore<T>(ns: string, bounds: StoreBounds): SqliteEntryStore<T> {
    return new SqliteEntryStore<T>(this.db, ns, bounds, this.now());
  }

  /** The knowledge base's files, stores and chunks in this file. */
  conversationStore(bounds: ConversationBounds): SqliteConversationStore {
    return new SqliteConversationStore(this.db, bounds, this.now);
  }

  responseStore(bounds: ResponseStoreBounds): SqliteResponseStore {
    return new SqliteResponseStore(this.db, bounds, this.now);
  }

  kbStore(): SqliteKbStore {
    return new SqliteKbStore(this.db);
  }

  /** Cloud spend recorded for `day` (the budget's own day key). */
  spent(day: string): number {
    return this.spendGet.get(day)?.spent ?? 0;
  }

  setSpent(day: string, spent: number): void {
    this.spendSet.run(day, spent, this.now());
  }

  /** Tokens key `label` used on `day`. */
  keyTokens(label: string, day: string): number {
    return this.usageGet.get(label, day)?.tokens ?? 0;
  }

  setKeyTokens(label: string, day: string, tokens: number): void {
    this.usageSet.run(label, day, tokens, this.now());
  }

  /** `PRAGMA integrity_check`'s answer: "ok" for a sound file. */
  integrity(): string {
    return String(this.pragma("integrity_check"));
  }

  get open(): boolean {
    return this.db.open;
  }

  /** Checkpoints the log into the file and releases the lock. Safe to call twice. */
  close(): void {
    if (this.db.open) this.db.close();
  }

  /** A statement prepared once and held (see `held`). */
  // biome-ignore lint/suspicious/noExplicitAny: each caller types its own statement.
  private hold<P extends unknown[] = any[], R = unknown>(sql: string): Database.Statement<P, R> {
    let statement = this.held.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.held.set(sql, statement);
    }
    return statement as unknown as Database.Statement<P, R>;
  }

  /** A pragma's first value (like `db.pragma(sql, { simple: true })`), through a held statement. */
  private pragma(sql: string): unknown {
    const statement = this.hold(`PRAGMA ${sql}`);
    if (!statement.reader) {
      statement.run();
      return undefined;
    }
    const row = statement.raw(true).get() as unknown[] | undefined;
    return row?.[0];
  }

  private migrate(): void {
    const version = Number(this.pragma("user_version"));
    if (version > SCHEMA_VERSION)
      throw new ConfigError(
        `The state file ${this.path} was written by a newer edgellm (schema ${version}, this one reads up to ` +
          `${SCHEMA_VERSION}). Upgrade edgellm, or point --state-file (EDGELLM_STATE_FILE) elsewhere.`,
      );
    for (let step = version; step < SCHEMA_VERSION; step++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[step]);
        this.pragma(`user_version = ${step + 1}`);
      })();
    }
  }
}

/** What to tell the owner when the file cannot be used, naming the setting that moves it. */
function stateFileError(path: string, error: unknown): Error {
  if (error instanceof ConfigError) return error;
  const code = (error as { code?: string }).code ?? "";
  const move =
    "Give each server its own --state-file (EDGELLM_STATE_FILE), or turn persistence off with --state-file off.";
  if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED")
    return new ConfigError(`The state file ${path} is in use by another edgellm server. ${move}`);
  if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT")
    return new ConfigError(
      `The state file ${path} is not a readable SQLite database. Move it away to start afresh. ${move}`,
    );
  return new ConfigError(`Cannot open the state file ${path}: ${(error as Error).message}. ${move}`);
}
