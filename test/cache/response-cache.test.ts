import assert from "node:assert/strict";
import { test } from "node:test";
import { CachingProvider, cacheKey } from "../../src/cache/response-cache.js";
import { DEFAULT_SAMPLING, type GenerateRequest, type StreamPart } from "../../src/provider/types.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { FakeEngine } from "../helpers/fake-engine.js";

function request(text: string, sampling: Partial<GenerateRequest["sampling"]> = {}): GenerateRequest {
  return {
    model: "fake-model",
    prompt: { kind: "text", text },
    sampling: { ...DEFAULT_SAMPLING, temperature: 0, ...sampling },
  };
}

async function collect(stream: AsyncIterable<StreamPart>) {
  const parts: StreamPart[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

function setup(maxBytes?: number) {
  const engine = new FakeEngine(1, 4096);
  const scheduler = new Scheduler();
  scheduler.attach(engine);
  return { engine, cache: new CachingProvider(scheduler, { maxBytes }) };
}

const signal = () => new AbortController().signal;

test("only deterministic requests have a cache key", () => {
  assert.ok(cacheKey(request("a")));
  assert.ok(cacheKey(request("a", { temperature: 0.8, seed: 3 })));
  assert.equal(cacheKey(request("a", { temperature: 0.8 })), undefined);
  assert.notEqual(cacheKey(request("a")), cacheKey(request("b")));
  assert.notEqual(cacheKey(request("a")), cacheKey(request("a", { maxTokens: 5 })));
  assert.equal(cacheKey(request("a")), cacheKey(request("a")));
});

test("a repeated deterministic request is answered from the cache with the same deltas", async () => {
  const { engine, cache } = setup();
  const first = await collect(cache.stream(request("hello"), { signal: signal() }));
  const second = await collect(cache.stream(request("hello"), { signal: signal() }));
  assert.deepEqual(first[0], { type: "meta", meta: { cache: "miss" } });
  assert.deepEqual(second[0], { type: "meta", meta: { cache: "hit" } });
  assert.deepEqual(second.slice(1, -1), first.slice(1, -1));
  const finish = second.at(-1);
  assert.ok(finish?.type === "finish");
  assert.equal(finish.usage.cachedTokens, finish.usage.promptTokens);
  assert.equal(engine.calls.length, 1, "the engine ran once");
});

test("sampled requests always reach the engine", async () => {
  const { engine, cache } = setup();
  await collect(cache.stream(request("x", { temperature: 0.7 }), { signal: signal() }));
  const again = await collect(cache.stream(request("x", { temperature: 0.7 }), { signal: signal() }));
  assert.equal(engine.calls.length, 2);
  assert.equal(again[0].type, "text-delta");
});

test("an aborted generation is not cached", async () => {
  const { engine, cache } = setup();
  engine.stepDelayMs = 5;
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 12);
  await collect(cache.stream(request("a long prompt to reverse"), { signal: controller.signal }));
  assert.equal(cache.size.entries, 0);
  await collect(cache.stream(request("a long prompt to reverse"), { signal: signal() }));
  assert.equal(engine.calls.length, 2);
});

test("the cache stays within its byte bound, evicting the least recently used", async () => {
  const { cache } = setup(30_000);
  for (const text of ["one", "two", "three", "four", "five", "six", "seven"]) {
    await collect(cache.stream(request(text.repeat(30)), { signal: signal() }));
    assert.ok(cache.size.bytes <= 30_000, `bytes ${cache.size.bytes}`);
  }
  assert.ok(cache.size.entries < 7);
  const newest = await collect(cache.stream(request("seven".repeat(30)), { signal: signal() }));
  assert.deepEqual(newest[0], { type: "meta", meta: { cache: "hit" } });
  const oldest = await collect(cache.stream(request("one".repeat(30)), { signal: signal() }));
  assert.deepEqual(oldest[0], { type: "meta", meta: { cache: "miss" } });
});
