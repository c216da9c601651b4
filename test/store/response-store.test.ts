import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryResponseStore, type StoredResponse } from "../../src/store/response-store.js";

function stored(id: string, text = "a"): StoredResponse {
  return {
    response: { id } as StoredResponse["response"],
    conversation: [{ role: "assistant", content: text }],
    items: [{ id: `msg_${id}`, message: { role: "assistant", content: text } }],
    owner: null,
  };
}

test("responses expire after the TTL, items with them", () => {
  let now = 0;
  const store = new MemoryResponseStore({ ttlMs: 1000, now: () => now });
  store.put(stored("r1"));
  now = 999;
  assert.equal(store.get("r1")?.response.id, "r1");
  assert.deepEqual(store.item("msg_r1"), {
    id: "msg_r1",
    message: { role: "assistant", content: "a" },
    owner: null,
  });
  now = 1000;
  assert.equal(store.get("r1"), undefined);
  assert.equal(store.item("msg_r1"), undefined);
  assert.deepEqual(store.size, { entries: 0, bytes: 0 });
});

test("bounded by count: the least recently used goes first", () => {
  const store = new MemoryResponseStore({ maxEntries: 2 });
  store.put(stored("r1"));
  store.put(stored("r2"));
  store.get("r1");
  store.put(stored("r3"));
  assert.deepEqual(
    ["r1", "r2", "r3"].map((id) => store.get(id) !== undefined),
    [true, false, true],
  );
});

test("bounded by bytes; an entry larger than the bound is not kept", () => {
  const one = Buffer.byteLength(JSON.stringify(stored("r1")));
  const store = new MemoryResponseStore({ maxBytes: one * 2 + 10 });
  for (const id of ["r1", "r2", "r3"]) store.put(stored(id));
  assert.equal(store.size.entries, 2);
  assert.ok(store.size.bytes <= one * 2 + 10);
  store.put(stored("big", "x".repeat(one * 3)));
  assert.equal(store.get("big"), undefined);
  assert.equal(store.size.entries, 2);
});

test("delete says whether there was one", () => {
  const store = new MemoryResponseStore();
  store.put(stored("r1"));
  assert.equal(store.delete("r1"), true);
  assert.equal(store.delete("r1"), false);
  assert.equal(store.item("msg_r1"), undefined);
});
