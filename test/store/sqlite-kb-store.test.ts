import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { analyze } from "../../src/kb/analyze.js";
import { SqliteKbStore } from "../../src/store/sqlite-kb-store.js";
import { StateDb } from "../../src/store/state-db.js";
import { chunkInput, storeFileRecord } from "../helpers/kb-chunks.js";

const chunk = chunkInput;
const storeFile = storeFileRecord;

function setup(kb: SqliteKbStore, storeId: string, owner: string | null = null) {
  kb.putStore({
    id: storeId,
    owner,
    name: storeId,
    createdAt: 1,
    lastActiveAt: 1,
    metadata: {},
    expiresAfter: null,
    embeddingModel: null,
  });
}

test("chunks are searched within their stores only, and go with their file", () => {
  const kb = SqliteKbStore.inMemory();
  setup(kb, "vs_a");
  setup(kb, "vs_b");
  for (const [store, file, text] of [
    ["vs_a", "file-1", "计算属性会缓存结果"],
    ["vs_b", "file-2", "计算属性在另一个库里"],
  ] as const) {
    kb.putFile(
      {
        id: file,
        owner: null,
        filename: `${file}.md`,
        purpose: "assistants",
        bytes: 1,
        createdAt: 1,
        expiresAt: null,
      },
      new Uint8Array([1]),
    );
    kb.putStoreFiles([storeFile(store, file)]);
    assert.ok(kb.completeStoreFile(store, file, [chunk(text, ["指南"])]));
  }
  const hits = kb.lexicalSearch(["vs_a"], analyze("计算属性"), 10);
  assert.deepEqual(
    hits.map((h) => h.fileId),
    ["file-1"],
  );
  assert.equal(kb.lexicalSearch(["vs_a", "vs_b"], analyze("计算属性"), 10).length, 2);
  assert.deepEqual(kb.fileCounts("vs_a"), {
    in_progress: 0,
    completed: 1,
    failed: 0,
    cancelled: 0,
    total: 1,
  });
  // A term that looks like FTS5 syntax is only ever a term.
  assert.deepEqual(kb.lexicalSearch(["vs_a"], ['"', "OR", "NEAR(", "*"], 10), []);
  kb.deleteFile("file-1");
  assert.deepEqual(
    kb.lexicalSearch(["vs_a", "vs_b"], analyze("计算属性"), 10).map((h) => h.fileId),
    ["file-2"],
  );
  assert.equal(kb.fileCounts("vs_a").total, 0);
  kb.deleteStore("vs_b");
  assert.deepEqual(kb.lexicalSearch(["vs_b"], analyze("计算属性"), 10), []);
  assert.equal(kb.getFile("file-2")?.id, "file-2", "deleting a store keeps its files");
});

test("the index finds a Chinese word by one of its characters, and the chunk's terms stay its words", () => {
  const kb = SqliteKbStore.inMemory();
  setup(kb, "vs_a");
  kb.putStoreFiles([storeFile("vs_a", "file-1")]);
  // ICU keeps 计算 and 属性 whole.
  kb.completeStoreFile("vs_a", "file-1", [chunk("计算属性", ["计算"])]);
  assert.deepEqual(
    kb.lexicalSearch(["vs_a"], ["算"], 10).map((h) => h.fileId),
    ["file-1"],
  );
  assert.equal(kb.termStats(["算", "性"]).df.get("算"), 1);
  const [terms] = kb.chunkTerms(kb.chunksOf("vs_a", "file-1").map((c) => c.id)).values();
  assert.deepEqual(terms, { title: [], heading: ["计算"], body: ["计算", "属性"] });
  kb.deleteStoreFile("vs_a", "file-1");
  assert.deepEqual(kb.lexicalSearch(["vs_a"], ["算"], 10), [], "the characters go with the chunk");
});

test("a file deleted or cancelled while ingesting gets no chunks", () => {
  const kb = SqliteKbStore.inMemory();
  setup(kb, "vs_a");
  kb.putStoreFiles([storeFile("vs_a", "file-1")]);
  assert.ok(kb.finishStoreFile("vs_a", "file-1", "cancelled", null));
  assert.equal(kb.completeStoreFile("vs_a", "file-1", [chunk("late")]), false);
  assert.equal(kb.getStoreFile("vs_a", "file-1")?.status, "cancelled");
  kb.putStoreFiles([storeFile("vs_a", "file-2")]);
  kb.deleteStoreFile("vs_a", "file-2");
  assert.equal(kb.completeStoreFile("vs_a", "file-2", [chunk("late")]), false);
  assert.deepEqual(kb.lexicalSearch(["vs_a"], ["late"], 10), []);
});

test("pages follow OpenAI's cursors", () => {
  const kb = SqliteKbStore.inMemory();
  for (let i = 0; i < 5; i++) setup(kb, `vs_${i}`, "k");
  const first = kb.listStores("k", { limit: 2, order: "desc" });
  assert.deepEqual(
    first.data.map((s) => s.id),
    ["vs_4", "vs_3"],
  );
  assert.ok(first.hasMore);
  const next = kb.listStores("k", { limit: 2, order: "desc", after: "vs_3" });
  assert.deepEqual(
    next.data.map((s) => s.id),
    ["vs_2", "vs_1"],
  );
  const asc = kb.listStores("k", { limit: 10, order: "asc", after: "vs_2" });
  assert.deepEqual(
    asc.data.map((s) => s.id),
    ["vs_3", "vs_4"],
  );
  assert.equal(asc.hasMore, false);
  assert.deepEqual(kb.listStores(null, { limit: 10, order: "asc" }).data, []);
});

test("the knowledge base lives in the state file and survives reopening", () => {
  const path = join(mkdtempSync(join(tmpdir(), "edgellm-kb-")), "state.sqlite");
  const db = new StateDb(path);
  const kb = db.kbStore();
  setup(kb, "vs_a");
  kb.putStoreFiles([storeFile("vs_a", "file-1")]);
  kb.completeStoreFile("vs_a", "file-1", [chunk("persistent words", ["Title"])]);
  db.close();
  const again = new StateDb(path);
  assert.equal(again.integrity(), "ok");
  assert.deepEqual(
    again
      .kbStore()
      .lexicalSearch(["vs_a"], ["persist"], 5)
      .map((h) => h.fileId),
    ["file-1"],
  );
  again.close();
});

test("a store of two one-chunk files still scores its match well (FTS5's own IDF would be zero there)", async () => {
  const { Searcher } = await import("../../src/kb/search.js");
  const kb = SqliteKbStore.inMemory();
  setup(kb, "vs_a");
  for (const [file, text] of [
    ["file-1", "年假需要提前两周申请"],
    ["file-2", "病假需要医院证明"],
  ] as const) {
    kb.putStoreFiles([storeFile("vs_a", file)]);
    kb.completeStoreFile("vs_a", file, [chunk(text)]);
  }
  const hits = await new Searcher(kb, undefined).search(
    ["vs_a"],
    "病假要什么证明?",
    { maxResults: 5 },
    false,
  );
  assert.equal(hits[0]?.chunk.fileId, "file-2");
  assert.ok((hits[0]?.score ?? 0) > 0.3, String(hits[0]?.score));
  assert.ok(
    hits.every((h, i) => i === 0 || h.score <= (hits[i - 1]?.score ?? 1)),
    "scores fall with rank",
  );
});
