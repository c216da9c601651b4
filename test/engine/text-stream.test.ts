import assert from "node:assert/strict";
import { test } from "node:test";
import { IncrementalDetokenizer, StopMatcher } from "../../src/engine/text-stream.js";

// A byte-level "tokenizer" where each token is one byte of UTF-8.
const bytesDetokenize = (tokens: readonly number[]) => new TextDecoder().decode(new Uint8Array(tokens));

test("IncrementalDetokenizer waits for a whole UTF-8 character before releasing text", () => {
  const d = new IncrementalDetokenizer(bytesDetokenize);
  const bytes = [...new TextEncoder().encode("a北😀")];
  const out = bytes.map((b) => d.push(b));
  assert.deepEqual(out, ["a", "", "", "北", "", "", "", "😀"]);
  assert.equal(d.flush(), "");
});

test("IncrementalDetokenizer flushes an incomplete tail at the end", () => {
  const d = new IncrementalDetokenizer(bytesDetokenize);
  assert.equal(d.push(0xe5), "");
  assert.equal(d.flush(), "\uFFFD");
});

test("StopMatcher holds back a possible stop prefix and cuts at the stop string", () => {
  const m = new StopMatcher(["</end>", "STOP"]);
  assert.deepEqual(m.push("hello </"), { emit: "hello ", stopped: false });
  assert.deepEqual(m.push("e"), { emit: "", stopped: false });
  assert.deepEqual(m.push("x"), { emit: "</ex", stopped: false });
  assert.deepEqual(m.push(" and ST"), { emit: " and ", stopped: false });
  assert.deepEqual(m.push("OP more"), { emit: "", stopped: true });
  assert.equal(m.isStopped, true);
  assert.equal(m.flush(), "");
});

test("StopMatcher picks the earliest stop string and releases held text at the end", () => {
  const m = new StopMatcher(["b", "a"]);
  assert.deepEqual(m.push("xxab"), { emit: "xx", stopped: true });
  const n = new StopMatcher(["abc"]);
  assert.deepEqual(n.push("zab"), { emit: "z", stopped: false });
  assert.equal(n.flush(), "ab");
});

test("StopMatcher with no stop strings passes text through", () => {
  const m = new StopMatcher([]);
  assert.deepEqual(m.push("anything"), { emit: "anything", stopped: false });
});
