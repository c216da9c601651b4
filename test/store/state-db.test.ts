import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { ConfigError } from "../../src/config/setting.js";
import { type EntryStore, MemoryEntryStore } from "../../src/store/entry-store.js";
import { SCHEMA_VERSION, StateDb } from "../../src/store/state-db.js";

const tempFile = async () => path.join(await mkdtemp(path.join(tmpdir(), "edgellm-state-")), "state.sqlite");
const entry = (key: string, bytes = 10, expires?: number) => ({
  key,
  value: { text: key },
  bytes,
  created: 1,
  ...(expires !== undefined && { expires }),
});

test("entries, spend and key usage are read back after a reopen", async () => {
  const file = await tempFile();
  const db = new StateDb(file);
  db.entryStore("faq", { maxBytes: 1000 }).put({ ...entry("a"), label: "What is it?" }, 5);
  db.setSpent("2026-11-24", 1.5);
  db.setKeyTokens("alice", "2026-11-24", 42);
  db.close();
  const again = new StateDb(file);
  const store = again.entryStore<{ text: string }>("faq", { maxBytes: 1000 });
  assert.deepEqual(store.get("a", 6)?.value, { text: "a" });
  assert.equal(store.list()[0].label, "What is it?");
  assert.equal(again.spent("2026-11-24"), 1.5);
  assert.equal(again.keyTokens("alice", "2026-11-24"), 42);
  assert.equal(again.entryStore("other", { maxBytes: 1000 }).size.entries, 0, "namespaces are apart");
  again.close();
});

test("the file is readable by its owner only", async () => {
  const file = await tempFile();
  new StateDb(file).close();
  assert.equal((await stat(file)).mode & 0o777, 0o600);
});

for (const [name, make] of [
  ["memory", () => new MemoryEntryStore<{ text: string }>({ maxBytes: 30, maxEntries: 5 })],
  [
    "sqlite",
    () => {
      const db = new StateDb(path.join(tmpdir(), `edgellm-bounds-${process.pid}-${Math.random()}.sqlite`));
      return db.entryStore<{ text: string }>("ns", { maxBytes: 30, maxEntries: 5 });
    },
  ],
] as const) {
  test(`${name} store: the least recently used go first, within bytes and entries`, () => {
    const store: EntryStore<{ text: string }> = make();
    store.put(entry("a"), 1);
    store.put(entry("b"), 2);
    store.put(entry("c"), 3);
    assert.ok(store.get("a", 4), "a is now the most recent");
    store.put(entry("d"), 5);
    assert.deepEqual(
      store.list().map((e) => e.key),
      ["d", "a", "c"],
    );
    assert.deepEqual(store.size, { entries: 3, bytes: 30 });
    store.put(entry("huge", 31), 6);
    assert.equal(store.get("huge", 7), undefined, "too big to keep");
    for (const key of ["e", "f", "g", "h", "i", "j"]) store.put(entry(key, 1), 8);
    assert.equal(store.size.entries, 5);
  });

  test(`${name} store: an expired entry is gone; hits are counted; clear and delete`, () => {
    const store: EntryStore<{ text: string }> = make();
    store.put(entry("old", 10, 100), 1);
    store.put(entry("new", 10, 1000), 1);
    assert.equal(store.get("old", 100), undefined);
    assert.equal(store.get("new", 100)?.hits, 1);
    assert.equal(store.get("new", 101)?.hits, 2);
    assert.equal(store.size.entries, 1);
    assert.equal(store.delete("new"), true);
    store.put(entry("x"), 1);
    assert.equal(store.clear(), 1);
    assert.deepEqual(store.size, { entries: 0, bytes: 0 });
  });
}

test("on start, expired entries go and a lowered bound is applied", async () => {
  const file = await tempFile();
  const db = new StateDb(file, { now: () => 50 });
  const store = db.entryStore("ns", { maxBytes: 1000 });
  store.put(entry("expired", 10, 40), 1);
  for (const key of ["a", "b", "c"]) store.put(entry(key), 2);
  db.close();
  const again = new StateDb(file, { now: () => 50 });
  assert.deepEqual(
    again
      .entryStore("ns", { maxBytes: 20 })
      .list()
      .map((e) => e.key),
    ["c", "b"],
  );
  again.close();
});

test("a second server on the same file is refused with a message naming the setting", async () => {
  const file = await tempFile();
  const first = new StateDb(file);
  assert.throws(
    () => new StateDb(file),
    (error: Error) =>
      error instanceof ConfigError &&
      /in use by another edgellm server/.test(error.message) &&
      /--state-file/.test(error.message),
  );
  first.entryStore("ns", { maxBytes: 100 }).put(entry("still mine"), 1);
  first.close();
  const next = new StateDb(file);
  assert.equal(next.entryStore("ns", { maxBytes: 100 }).size.entries, 1, "free once the first has closed");
  next.close();
});

test("a file from a newer schema, or not a database, is refused and left as it is", async () => {
  const newer = await tempFile();
  const raw = new Database(newer);
  raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  raw.close();
  assert.throws(() => new StateDb(newer), /newer edgellm/);
  const garbage = await tempFile();
  await writeFile(garbage, "not sqlite at all, but long enough to look like a header ".repeat(20));
  assert.throws(
    () => new StateDb(garbage),
    (e: Error) => e instanceof ConfigError && /not a readable/.test(e.message),
  );
});

test("kill -9 while writing loses at most the write in flight and never corrupts the file", async () => {
  const file = await tempFile();
  const writer = path.join(path.dirname(fileURLToPath(import.meta.url)), "state-writer.js");
  const child = spawn(process.execPath, [writer, file], { stdio: ["ignore", "pipe", "inherit"] });
  let committed = -1;
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      const lines = chunk.toString().trim().split("\n");
      committed = Math.max(committed, Number(lines.at(-1)));
      // Killed while it keeps writing: the next transaction is (almost surely) under way.
      if (committed >= 300) child.kill("SIGKILL");
    });
    child.once("exit", (_code, signal) =>
      signal === "SIGKILL" ? resolve() : reject(new Error(`exit ${signal}`)),
    );
  });
  const db = new StateDb(file);
  assert.equal(db.integrity(), "ok");
  const store = db.entryStore<{ text: string }>("crash", { maxBytes: 1e9 });
  for (let i = 0; i <= committed; i++) assert.ok(store.get(`k${i}`, Date.now()), `entry ${i} was committed`);
  assert.ok(db.spent("day") >= committed);
  db.close();
});
