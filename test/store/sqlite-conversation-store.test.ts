import assert from "node:assert/strict";
import { test } from "node:test";
import Database from "better-sqlite3";
import { ConversationFullError } from "../../src/provider/errors.js";
import type { StoredResponse } from "../../src/store/response-store.js";
import {
  CONVERSATION_SCHEMA,
  SqliteConversationStore,
  SqliteResponseStore,
} from "../../src/store/sqlite-conversation-store.js";

function db() {
  const d = new Database(":memory:");
  d.exec(CONVERSATION_SCHEMA);
  return d;
}

const item = (id: string, text = id) => ({ id, body: { id, type: "message", role: "user", content: text } });
const BOUNDS = { maxPerOwner: 3, maxItems: 5, maxBytes: 10_000, ttlMs: 1000 };

test("items keep their order both ways, with cursors; a cursor that is not an item of it is undefined", () => {
  const store = new SqliteConversationStore(db(), BOUNDS);
  store.create("c1", null, {}, [item("a"), item("b")]);
  store.add("c1", [item("c"), item("d")]);
  const ids = (order: "asc" | "desc", after?: string, limit = 10) =>
    store.items("c1", { order, after, limit })?.items.map((i) => i.id);
  assert.deepEqual(ids("asc"), ["a", "b", "c", "d"]);
  assert.deepEqual(ids("desc"), ["d", "c", "b", "a"]);
  assert.deepEqual(ids("asc", "b"), ["c", "d"]);
  assert.deepEqual(ids("desc", "c"), ["b", "a"]);
  assert.equal(store.items("c1", { order: "asc", limit: 3 })?.hasMore, true);
  assert.equal(store.items("c1", { order: "asc", limit: 4 })?.hasMore, false);
  assert.equal(store.items("c1", { order: "asc", after: "zz", limit: 3 }), undefined);
  assert.equal(store.deleteItem("c1", "b"), true);
  assert.equal(store.deleteItem("c1", "b"), false);
  assert.deepEqual(ids("asc"), ["a", "c", "d"]);
  assert.equal(store.get("c1")?.items, 3);
});

test("past its item or byte bound a conversation refuses the whole addition; an owner's oldest go first", () => {
  const store = new SqliteConversationStore(db(), BOUNDS);
  store.create("c1", "k", {}, [item("a")]);
  assert.throws(
    () => store.add("c1", [item("b"), item("c"), item("d"), item("e"), item("f")]),
    ConversationFullError,
  );
  assert.equal(store.get("c1")?.items, 1, "nothing of the refused addition was kept");
  assert.throws(() => store.add("c1", [item("big", "x".repeat(20_000))]), /bytes/);
  store.create("c2", "k", {}, []);
  store.create("c3", "k", {}, []);
  store.create("other", "j", {}, []);
  store.create("c4", "k", {}, []);
  assert.equal(store.get("c1"), undefined, "the owner's least recently used went");
  assert.ok(store.get("c2") && store.get("c4") && store.get("other"));
});

test("a conversation unused past its age is gone", () => {
  let now = 10_000;
  const store = new SqliteConversationStore(db(), BOUNDS, () => now);
  store.create("c1", null, { a: "1" }, []);
  now += 999;
  assert.deepEqual(store.get("c1")?.metadata, { a: "1" });
  store.setMetadata("c1", { a: "2" });
  now += 999;
  assert.deepEqual(store.get("c1")?.metadata, { a: "2" }, "an update counts as use");
  now += 1001;
  assert.equal(store.get("c1"), undefined);
});

test("stored responses: kept, found by item id, bounded by count and age, deleted", () => {
  let now = 0;
  const store = new SqliteResponseStore(db(), { maxEntries: 2, maxBytes: 1e6, ttlMs: 100 }, () => now);
  const response = (id: string): StoredResponse => ({
    response: { id } as StoredResponse["response"],
    conversation: [{ role: "user", content: id }],
    items: [{ id: `item-${id}`, message: { role: "assistant", content: id } }],
    owner: "k",
  });
  store.put(response("r1"));
  now = 1;
  store.put(response("r2"));
  assert.equal(store.item("item-r1")?.owner, "k");
  now = 2;
  store.put(response("r3"));
  assert.equal(store.get("r1"), undefined, "past the count the oldest went");
  assert.equal(store.item("item-r1"), undefined);
  assert.equal(store.get("r3")?.conversation[0]?.content, "r3");
  assert.equal(store.delete("r3"), true);
  assert.equal(store.delete("r3"), false);
  now = 200;
  assert.equal(store.get("r2"), undefined, "expired");
});

test("an owner's conversations list the most recently used first, with cursors; 1000 of them list at once", () => {
  let now = 1_000_000;
  const store = new SqliteConversationStore(db(), { ...BOUNDS, maxPerOwner: 2000, ttlMs: 1e12 }, () => now);
  for (let i = 0; i < 1000; i++) {
    now += 1;
    store.create(`c${String(i).padStart(4, "0")}`, "k", { title: `chat ${i}` }, []);
  }
  store.create("theirs", "j", {}, []);
  now += 1;
  store.add("c0005", [item("x")]);
  const first = store.list("k", { limit: 3 });
  assert.deepEqual(
    first?.conversations.map((c) => c.id),
    ["c0005", "c0999", "c0998"],
  );
  assert.equal(first?.hasMore, true);
  const next = store.list("k", { after: "c0998", limit: 2 });
  assert.deepEqual(
    next?.conversations.map((c) => c.id),
    ["c0997", "c0996"],
  );
  assert.equal(store.list("k", { after: "theirs", limit: 2 }), undefined, "another owner's id is no cursor");
  const all = store.list("k", { limit: 1000 });
  assert.equal(all?.conversations.length, 1000);
  assert.equal(all?.hasMore, false);
  assert.ok(!all?.conversations.some((c) => c.id === "theirs"));
});
