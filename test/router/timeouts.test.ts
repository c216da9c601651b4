import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { buildServer } from "../../src/api/server.js";
import type { RoutingFile } from "../../src/router/config.js";
import { pickReplica } from "../../src/router/replicas.js";
import { affinityKey } from "../../src/router/upstream.js";
import { FakeUpstream, startBlackhole } from "../helpers/fake-upstream.js";
import { chat, collect, recordingLogger, routerFor } from "./harness.js";

// Upstreams that are slow rather than broken: the fallback must start within the configured bounds.
let cloud: FakeUpstream;
let other: FakeUpstream;

before(async () => {
  cloud = await new FakeUpstream().start();
  other = await new FakeUpstream().start();
});

after(async () => {
  await cloud.stop();
  await other.stop();
});

const hi = { model: "cloud", stream: true, messages: [{ role: "user", content: "hi" }] };

/** Server-sent events of a response body, without the `data: ` prefix. */
function events(body: string): string[] {
  return body
    .trim()
    .split("\n\n")
    .map((e) => e.replace(/^data: /, ""));
}

test("a stalled upstream falls back to local once the first-byte wait is spent, retries or not", async (t) => {
  const cases = [
    { name: "accepts and never answers", behaviour: { kind: "hang" } as const },
    { name: "sends headers but no body", behaviour: { kind: "headers-only" } as const },
    // A role chunk is not an answer: it must not stop the first-byte clock.
    { name: "sends a role chunk, then nothing", behaviour: { kind: "stall-mid-stream", chunks: 0 } as const },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      cloud.script = [c.behaviour];
      const sent = cloud.requests.length;
      const { router } = routerFor({
        // Three retries of 300 ms each would take over a second without one overall wait.
        upstreams: { cloud: { baseUrl: cloud.url, retries: 3, retryBackoffMs: 10, firstByteTimeoutMs: 300 } },
      });
      const app = await buildServer({ provider: router });
      const started = Date.now();
      const res = await app.inject({ method: "POST", url: "/v1/chat/completions", payload: hi });
      const elapsed = Date.now() - started;
      await app.close();
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers["x-edgellm-route"], "local");
      assert.equal(
        res.headers["x-edgellm-route-reason"],
        "fallback: upstream 'cloud' failed: timeout (first byte after 0.3 s)",
      );
      const text = events(res.body)
        .filter((e) => e.startsWith("{"))
        .map((e) => JSON.parse(e).choices?.[0]?.delta?.content ?? "")
        .join("");
      assert.equal(text, "local answer", "the streaming client got the local answer");
      assert.equal(events(res.body).at(-1), "[DONE]");
      assert.equal(cloud.requests.length - sent, 1, "no retry once the wait before fallback is spent");
      assert.ok(elapsed < 1000, `fell back after ${elapsed} ms`);
    });
  }
});

test("a stream that stalls after its first text ends with an error event after the idle timeout", async () => {
  cloud.script = [{ kind: "stall-mid-stream", chunks: 2 }];
  const { router } = routerFor({
    upstreams: { cloud: { baseUrl: cloud.url, retries: 0, idleTimeoutMs: 200 } },
  });
  const app = await buildServer({ provider: router });
  const res = await app.inject({ method: "POST", url: "/v1/chat/completions", payload: hi });
  await app.close();
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers["x-edgellm-route"], "cloud");
  const all = events(res.body);
  assert.match(all[1], /"content":"part0 "/);
  const last = JSON.parse(all.at(-1) ?? "{}");
  assert.equal(last.error?.code, "upstream_stream_broken");
  assert.equal(last.error?.message, "upstream 'cloud' failed mid-stream: timeout (no chunk for 0.2 s)");
  assert.ok(!all.includes("[DONE]"));
});

test("a connect timeout gives up on an unreachable address long before the first-byte timeout", async () => {
  const blackhole = await startBlackhole();
  try {
    const { router } = routerFor({
      upstreams: {
        cloud: { baseUrl: blackhole.url, retries: 0, connectTimeoutMs: 200, firstByteTimeoutMs: 20_000 },
      },
    });
    const started = Date.now();
    const { meta, text } = await collect(router, chat("cloud", "hi"));
    const elapsed = Date.now() - started;
    assert.equal(meta.route, "local");
    assert.equal(meta.routeReason, "fallback: upstream 'cloud' failed: timeout (no connection after 0.2 s)");
    assert.equal(text, "local answer");
    assert.ok(elapsed < 5000, `fell back after ${elapsed} ms`);
    router.dispose();
  } finally {
    await blackhole.stop();
  }
});

test("fallbackAfterMs leaves room to retry a stalled replica on another one", async () => {
  const upstream = (fallbackAfterMs?: number): RoutingFile => ({
    upstreams: {
      pair: {
        baseUrl: [cloud.url, other.url],
        retries: 1,
        retryBackoffMs: 10,
        firstByteTimeoutMs: 300,
        healthCheckMs: 0,
        ...(fallbackAfterMs !== undefined && { fallbackAfterMs }),
      },
    },
  });
  // A conversation whose first pick is replica 1 (the stalled one), found the way the provider picks.
  const idle = [0, 1].map((index) => ({ index, outstanding: 0, available: true }));
  const prompt = Array.from({ length: 50 }, (_, i) => `conversation ${i}`).find(
    (p) => pickReplica(idle, affinityKey(chat("pair", p)), new Set(), 0)?.index === 0,
  );
  assert.ok(prompt);
  cloud.script = [{ kind: "hang" }];
  other.script = [{ kind: "ok", text: "from replica two" }];

  const roomy = routerFor(upstream(2000)).router;
  const served = await collect(roomy, chat("pair", prompt));
  assert.equal(served.meta.route, "pair");
  assert.equal(served.text, "from replica two");
  assert.match(served.meta.routeReason ?? "", /replica 2\/2/);

  // By default the whole wait is the first-byte timeout: the stalled replica spends it.
  const tight = routerFor(upstream()).router;
  const fellBack = await collect(tight, chat("pair", prompt));
  assert.equal(fellBack.meta.route, "local");
  assert.match(fellBack.meta.routeReason ?? "", /timeout \(first byte after 0\.3 s\)/);
  cloud.script = [{ kind: "ok" }];
  other.script = [{ kind: "ok" }];
});

test("upstream failures, fallbacks and circuit changes are logged", async () => {
  const { logger, lines } = recordingLogger();
  cloud.script = [{ kind: "status", status: 503 }];
  const { router } = routerFor(
    {
      upstreams: { cloud: { baseUrl: cloud.url, retries: 0 } },
      breaker: { failures: 2, cooldownMs: 200 },
    },
    { logger },
  );
  await collect(router, chat("cloud", "hi"));
  await collect(router, chat("cloud", "hi"));
  await new Promise((r) => setTimeout(r, 250));
  cloud.script = [{ kind: "ok" }];
  await collect(router, chat("cloud", "hi"));
  // The fake upstream has no model list: that warning comes once, whenever the start-up check ends.
  const routing = lines.filter((l) => !("check" in l.fields));
  assert.equal(lines.length - routing.length, 1);
  const summary = routing.map((l) => `${l.level} ${l.message}`);
  assert.deepEqual(summary, [
    "warn upstream 'cloud' failed: HTTP 503: scripted 503",
    "warn fallback: upstream 'cloud' failed: HTTP 503; answering locally",
    "warn upstream 'cloud' failed: HTTP 503: scripted 503",
    "warn upstream 'cloud' replica 1/1: circuit opened after 2 failures; requests go elsewhere for 0.2 s",
    "warn fallback: upstream 'cloud' failed: HTTP 503; answering locally",
    "info upstream 'cloud' replica 1/1: circuit closed",
  ]);
  assert.deepEqual(routing[0].fields, {
    upstream: "cloud",
    replica: 0,
    code: "upstream_server_error",
    summary: "HTTP 503",
    status: 503,
  });
  assert.deepEqual(routing[1].fields, {
    from: "cloud",
    to: "local",
    why: "upstream 'cloud' failed: HTTP 503",
  });
  assert.deepEqual(routing[3].fields, { upstream: "cloud", replica: 0, circuit: "open" });
});

test("a client that leaves while an upstream connects or stalls is no failure of the upstream", async () => {
  const blackhole = await startBlackhole();
  try {
    const { logger, lines } = recordingLogger();
    const { router, registry } = routerFor(
      {
        upstreams: {
          slow: { baseUrl: blackhole.url, retries: 0, connectTimeoutMs: 5000, firstByteTimeoutMs: 5000 },
          cloud: { baseUrl: cloud.url, retries: 0, firstByteTimeoutMs: 5000 },
        },
        breaker: { failures: 1 },
      },
      { logger },
    );
    cloud.script = [{ kind: "hang" }];
    for (const model of ["slow", "cloud"]) {
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error("client gone")), 150);
      await assert.rejects(async () => {
        for await (const _ of router.stream(chat(model, "hi"), { signal: controller.signal }));
      }, /client gone/);
      assert.equal(router.upstream(model)?.status[0].circuit, "closed", model);
    }
    const failures = await registry.getSingleMetricAsString("edgellm_router_upstream_failures_total");
    assert.doesNotMatch(failures, /upstream=/);
    assert.deepEqual(
      lines.filter((l) => !("check" in l.fields)),
      [],
    );
    router.dispose();
  } finally {
    cloud.script = [{ kind: "ok" }];
    await blackhole.stop();
  }
});

test("a half-open probe the client abandons frees the circuit for the next request", async () => {
  cloud.script = [{ kind: "status", status: 503 }];
  const { router } = routerFor({
    upstreams: { cloud: { baseUrl: cloud.url, retries: 0 } },
    breaker: { failures: 1, cooldownMs: 100 },
  });
  await collect(router, chat("cloud", "hi"));
  assert.equal(router.upstream("cloud")?.status[0].circuit, "open");
  await new Promise((r) => setTimeout(r, 150));
  cloud.script = [{ kind: "ok", text: "one two three" }];
  // The probe: the consumer reads its first text and stops pulling.
  for await (const part of router.stream(chat("cloud", "hi"), { signal: new AbortController().signal }))
    if (part.type === "text-delta") break;
  const next = await collect(router, chat("cloud", "hi"));
  assert.equal(next.meta.route, "cloud", next.meta.routeReason);
  router.dispose();
});
