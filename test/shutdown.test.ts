import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { Registry } from "prom-client";
import { buildServer } from "../src/api/server.js";
import { ShuttingDownError } from "../src/provider/errors.js";
import { DEFAULT_SAMPLING, type GenerateRequest, type StreamPart } from "../src/provider/types.js";
import { RouterMetrics } from "../src/router/accounting.js";
import { resolveRoutingConfig } from "../src/router/config.js";
import { Router } from "../src/router/router.js";
import { Scheduler } from "../src/scheduler/scheduler.js";
import { createUpstreams } from "../src/server.js";
import { DrainingProvider } from "../src/shutdown.js";
import { FakeEngine } from "./helpers/fake-engine.js";

// In-process: DrainingProvider in front of a Scheduler with the fake engine, or a Router with an upstream.

function request(model: string, text: string): GenerateRequest {
  return { model, prompt: { kind: "text", text }, sampling: DEFAULT_SAMPLING };
}

function setup(reply: (prompt: string) => string) {
  const engine = new FakeEngine(1, 100_000, reply);
  engine.stepDelayMs = 2;
  const scheduler = new Scheduler();
  scheduler.attach(engine);
  return { engine, scheduler, draining: new DrainingProvider(scheduler) };
}

/** Starts reading a stream; `first` settles with its first part, `all` with every part. */
function read(stream: AsyncIterable<StreamPart>) {
  const parts: StreamPart[] = [];
  let onFirst: () => void = () => {};
  const first = new Promise<void>((resolve) => {
    onFirst = resolve;
  });
  const all = (async () => {
    for await (const part of stream) {
      parts.push(part);
      onFirst();
    }
    return parts;
  })();
  all.catch(() => onFirst());
  return { first, all };
}

const signal = () => new AbortController().signal;

/** A test that would otherwise hang when draining fails to end a stream. */
const bounded = { timeout: 20_000 };

test(
  "once draining, new streams are refused; one in flight finishes and the drain does not wait out the grace",
  bounded,
  async () => {
    const { draining } = setup((p) => p.repeat(3));
    const running = read(draining.stream(request("fake-model", "in flight"), { signal: signal() }));
    await running.first;
    const drained = draining.drain(60_000);
    assert.equal(draining.shuttingDown, true);
    await assert.rejects(
      read(draining.stream(request("fake-model", "new"), { signal: signal() })).all,
      (error: unknown) => error instanceof ShuttingDownError && error.code === "shutting_down",
    );
    const parts = await running.all;
    assert.equal(parts.at(-1)?.type, "finish");
    await drained;
    assert.equal(draining.inFlight, 0);
  },
);

test(
  "a stream still running when the grace ends is cut short with ShuttingDownError and frees its slot",
  bounded,
  async () => {
    const { draining, scheduler } = setup(() => "x".repeat(100_000));
    const running = read(draining.stream(request("fake-model", "long"), { signal: signal() }));
    await running.first;
    await draining.drain(30);
    await assert.rejects(running.all, (error: unknown) => {
      assert.ok(error instanceof ShuttingDownError);
      assert.match(error.message, /grace period ended/);
      return true;
    });
    assert.equal(scheduler.activeSlots, 0);
  },
);

test("a client that leaves during the drain ends quietly, not with ShuttingDownError", bounded, async () => {
  const { draining } = setup(() => "x".repeat(100_000));
  const client = new AbortController();
  const running = read(draining.stream(request("fake-model", "long"), { signal: client.signal }));
  await running.first;
  const drained = draining.drain(60_000);
  client.abort(new Error("client disconnected"));
  const parts = await running.all;
  assert.ok(!parts.some((p) => p.type === "finish"));
  await drained;
});

test("an upstream request in flight is aborted when the grace ends", bounded, async () => {
  // An upstream that sends one chunk and then holds the stream open.
  let upstreamClosed: Promise<unknown> = new Promise(() => {});
  const upstream = createServer((req, res) => {
    req.resume();
    upstreamClosed = once(res, "close");
    res.writeHead(200, { "content-type": "text/event-stream" });
    const chunk = { id: "c", object: "chat.completion.chunk", created: 1, model: "m" };
    res.write(`data: ${JSON.stringify({ ...chunk, choices: [{ index: 0, delta: { content: "Hi" } }] })}\n\n`);
  });
  upstream.listen(0, "127.0.0.1");
  await once(upstream, "listening");
  try {
    const baseUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
    const config = resolveRoutingConfig({ upstreams: { cloud: { baseUrl, retries: 0 } } }, {});
    const { scheduler } = setup((p) => p);
    const metrics = new RouterMetrics(new Registry());
    const upstreams = createUpstreams(config, { metrics, log: { info: () => {}, warn: () => {} } });
    const router = new Router({ local: scheduler, config, upstreams, metrics });
    const draining = new DrainingProvider(router);
    const running = read(draining.stream(request("cloud", "hello"), { signal: signal() }));
    await running.first;
    await draining.drain(30);
    await assert.rejects(running.all, ShuttingDownError);
    await upstreamClosed;
    router.dispose();
  } finally {
    upstream.closeAllConnections();
    upstream.close();
  }
});

test("/health answers 503 shutting_down with Retry-After once shutdown has begun, and closes the connection", async () => {
  const { scheduler } = setup((p) => p);
  let shuttingDown = false;
  const app = await buildServer({ provider: scheduler, shuttingDown: () => shuttingDown, webRoot: false });
  try {
    const before = await app.inject({ method: "GET", url: "/health" });
    assert.equal(before.statusCode, 200);
    assert.notEqual(before.headers.connection, "close");
    shuttingDown = true;
    const after = await app.inject({ method: "GET", url: "/health" });
    assert.equal(after.statusCode, 503);
    assert.equal(after.headers["retry-after"], "1");
    assert.equal(after.headers.connection, "close");
    assert.deepEqual(after.json().error.code, "shutting_down");
    assert.equal(after.json().error.type, "server_error");
  } finally {
    await app.close();
  }
});
