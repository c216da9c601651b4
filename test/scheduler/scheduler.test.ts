import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ContextOverflowError,
  ModelLoadingError,
  ModelNotFoundError,
  QueueFullError,
  QueueTimeoutError,
  ShuttingDownError,
} from "../../src/provider/errors.js";
import type { GenerateRequest, StreamPart } from "../../src/provider/types.js";
import { DEFAULT_SAMPLING } from "../../src/provider/types.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { FakeEngine } from "../helpers/fake-engine.js";

function textRequest(text: string, maxTokens?: number): GenerateRequest {
  return {
    model: "fake-model",
    prompt: { kind: "text", text },
    sampling: { ...DEFAULT_SAMPLING, maxTokens },
  };
}

async function collect(stream: AsyncIterable<StreamPart>): Promise<{ text: string; parts: StreamPart[] }> {
  const parts: StreamPart[] = [];
  for await (const part of stream) parts.push(part);
  return { text: parts.map((p) => (p.type === "text-delta" ? p.text : "")).join(""), parts };
}

function neverAborted(): AbortSignal {
  return new AbortController().signal;
}

function setup(slots = 1, maxQueue = 64, contextSize = 256) {
  const engine = new FakeEngine(slots, contextSize);
  const scheduler = new Scheduler({ maxQueue });
  scheduler.attach(engine);
  return { engine, scheduler };
}

test("a scheduler without an engine refuses with ModelLoadingError", async () => {
  const scheduler = new Scheduler();
  assert.equal(scheduler.state, "loading");
  assert.throws(() => scheduler.listModels(), ModelLoadingError);
  await assert.rejects(
    collect(scheduler.stream(textRequest("x"), { signal: new AbortController().signal })),
    ModelLoadingError,
  );
  scheduler.fail(new Error("boom"));
  assert.equal(scheduler.state, "failed");
});

test("resolveModel accepts the id, 'local' and nothing; anything else is 404", () => {
  const { scheduler } = setup();
  assert.equal(scheduler.resolveModel(undefined), "fake-model");
  assert.equal(scheduler.resolveModel("local"), "fake-model");
  assert.equal(scheduler.resolveModel("fake-model"), "fake-model");
  assert.throws(() => scheduler.resolveModel("gpt-4"), ModelNotFoundError);
});

test("stream yields text then a finish with usage", async () => {
  const { scheduler } = setup();
  const { text, parts } = await collect(
    scheduler.stream(textRequest("abc"), { signal: new AbortController().signal }),
  );
  assert.equal(text, "cba");
  assert.deepEqual(parts.at(-1), {
    type: "finish",
    finishReason: "stop",
    usage: { promptTokens: 3, completionTokens: 3, cachedTokens: 0 },
  });
});

test("a prompt plus max_tokens beyond the context is refused up front", async () => {
  const { scheduler, engine } = setup(1, 64, 10);
  await assert.rejects(
    collect(scheduler.stream(textRequest("abcdef", 5), { signal: new AbortController().signal })),
    (error: unknown) => error instanceof ContextOverflowError && error.field === "maxTokens",
  );
  await assert.rejects(
    collect(scheduler.stream(textRequest("a".repeat(20)), { signal: new AbortController().signal })),
    (error: unknown) => error instanceof ContextOverflowError && error.field === "prompt",
  );
  assert.equal(engine.calls.length, 0);
});

test("requests beyond the free slots wait in FIFO order", async () => {
  const { scheduler, engine } = setup(1);
  const order: string[] = [];
  const run = async (text: string) => {
    await collect(scheduler.stream(textRequest(text), { signal: new AbortController().signal }));
    order.push(text);
  };
  const all = Promise.all(["first", "second", "third"].map(run));
  await new Promise((r) => setImmediate(r));
  assert.equal(scheduler.queueLength, 2);
  await all;
  assert.deepEqual(order, ["first", "second", "third"]);
  assert.deepEqual(
    engine.calls.map((c) => c.prompt),
    ["first", "second", "third"],
  );
});

test("past the queue bound a request is refused at once with QueueFullError", async () => {
  const { scheduler } = setup(1, 1);
  const signal = new AbortController().signal;
  const running = collect(scheduler.stream(textRequest("running"), { signal }));
  const queued = collect(scheduler.stream(textRequest("queued"), { signal }));
  await new Promise((r) => setImmediate(r));
  await assert.rejects(collect(scheduler.stream(textRequest("refused"), { signal })), QueueFullError);
  await Promise.all([running, queued]);
});

test("a queued request that is aborted leaves the queue", async () => {
  const { scheduler, engine } = setup(1);
  const running = collect(scheduler.stream(textRequest("running"), { signal: new AbortController().signal }));
  const controller = new AbortController();
  const queued = collect(scheduler.stream(textRequest("queued"), { signal: controller.signal }));
  await new Promise((r) => setImmediate(r));
  assert.equal(scheduler.queueLength, 1);
  controller.abort(new Error("gone"));
  await assert.rejects(queued, /gone/);
  assert.equal(scheduler.queueLength, 0);
  await running;
  assert.deepEqual(
    engine.calls.map((c) => c.prompt),
    ["running"],
  );
});

test("an aborted generation frees its slot for the next request", async () => {
  const { scheduler, engine } = setup(1);
  engine.stepDelayMs = 5;
  const controller = new AbortController();
  const long = collect(scheduler.stream(textRequest("x".repeat(100)), { signal: controller.signal }));
  const next = collect(scheduler.stream(textRequest("next"), { signal: new AbortController().signal }));
  setTimeout(() => controller.abort(), 20);
  const { parts } = await long;
  assert.ok(parts.length < 100, "the aborted stream stopped early");
  assert.ok(!parts.some((p) => p.type === "finish"));
  assert.equal((await next).text, "txen");
  assert.equal(scheduler.activeSlots, 0);
});

test("a request goes to the free slot sharing the longest prefix with its prompt", async () => {
  const { scheduler, engine } = setup(3);
  const signal = new AbortController().signal;
  // Fill the three slots with distinct histories, concurrently so each takes its own slot.
  await Promise.all(
    ["alpha conversation", "beta conversation", "gamma conversation"].map((t) =>
      collect(scheduler.stream(textRequest(t), { signal })),
    ),
  );
  const slotOf = (prompt: string) => engine.calls.find((c) => c.prompt === prompt)?.slot;
  const betaSlot = slotOf("beta conversation");
  await collect(scheduler.stream(textRequest("beta conversation, next turn"), { signal }));
  const call = engine.calls.at(-1);
  assert.equal(call?.slot, betaSlot);
  assert.equal(call?.cachedTokens, "beta conversation".length);
});

test("dispose releases the engine", async () => {
  const { scheduler, engine } = setup(1);
  await scheduler.dispose();
  assert.equal(engine.disposed, true);
});

test("dispose waits until no request holds a slot before disposing the engine", async () => {
  const engine = new (class extends FakeEngine {
    activeAtDispose?: number;
    override async dispose(): Promise<void> {
      this.activeAtDispose = this.active;
      await super.dispose();
    }
  })(1, 256);
  engine.stepDelayMs = 2;
  const scheduler = new Scheduler();
  scheduler.attach(engine);
  const running = collect(
    scheduler.stream(textRequest("a generation in flight"), { signal: neverAborted() }),
  );
  await new Promise((r) => setImmediate(r));
  assert.equal(scheduler.activeSlots, 1);
  const disposing = scheduler.dispose();
  const { parts } = await running;
  assert.equal(parts.at(-1)?.type, "finish", "the request in flight ran to its end");
  await disposing;
  assert.equal(engine.activeAtDispose, 0, "no slot was in use when the engine was disposed");
  assert.equal(engine.disposed, true);
  assert.throws(() => scheduler.listModels(), ShuttingDownError);
});

test("drain fails queued requests and refuses new ones with ShuttingDownError; running ones finish", async () => {
  const { scheduler, engine } = setup(1);
  engine.stepDelayMs = 2;
  const running = collect(scheduler.stream(textRequest("running"), { signal: neverAborted() }));
  const queued = collect(scheduler.stream(textRequest("queued"), { signal: neverAborted() }));
  await new Promise((r) => setImmediate(r));
  assert.equal(scheduler.queueLength, 1);
  scheduler.drain();
  assert.equal(scheduler.queueLength, 0);
  await assert.rejects(
    queued,
    (error: unknown) => error instanceof ShuttingDownError && error.status === 503,
  );
  await assert.rejects(
    collect(scheduler.stream(textRequest("new"), { signal: neverAborted() })),
    ShuttingDownError,
  );
  assert.equal((await running).text, "gninnur");
  assert.deepEqual(
    engine.calls.map((c) => c.prompt),
    ["running"],
  );
});

test("a request that waits longer than the queue timeout fails with 503 queue_timeout", async () => {
  const engine = new FakeEngine(1, 256);
  engine.stepDelayMs = 20;
  const scheduler = new Scheduler({ queueTimeoutMs: 30 });
  scheduler.attach(engine);
  const signal = new AbortController().signal;
  const running = collect(scheduler.stream(textRequest("a long running prompt"), { signal }));
  await assert.rejects(
    collect(scheduler.stream(textRequest("waits"), { signal })),
    (error: unknown) => error instanceof QueueTimeoutError && error.status === 503,
  );
  assert.equal(scheduler.queueLength, 0);
  await running;
});

test("a request the engine refuses is refused before it queues", async () => {
  const engine = new (class extends FakeEngine {
    check(request: GenerateRequest): void {
      if (request.prompt.kind === "text" && request.prompt.text === "bad")
        throw new Error("refused by check");
    }
  })(1, 256);
  engine.stepDelayMs = 10;
  const scheduler = new Scheduler({ maxQueue: 0 });
  scheduler.attach(engine);
  const signal = new AbortController().signal;
  const running = collect(scheduler.stream(textRequest("occupies the only slot"), { signal }));
  await new Promise((r) => setImmediate(r));
  // The queue is full, yet the answer is the engine's refusal, not 429.
  await assert.rejects(collect(scheduler.stream(textRequest("bad"), { signal })), /refused by check/);
  await running;
});

test("its errors carry our field ids, never an OpenAI parameter name", async () => {
  const { scheduler } = setup(1, 64, 10);
  const error = await collect(
    scheduler.stream(textRequest("abcdef", 5), { signal: new AbortController().signal }),
  ).catch((e: unknown) => e);
  assert.ok(error instanceof ContextOverflowError);
  assert.deepEqual([error.field, error.param], ["maxTokens", null]);
  assert.doesNotMatch(error.message, /max_tokens|messages/);
  assert.match(
    error.message,
    /5 in the completion\)\. Please reduce the length of the prompt or maxTokens\./,
  );
});
