import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { buildServer } from "../../src/api/server.js";
import { QueueFullError, UpstreamError } from "../../src/provider/errors.js";
import type { RoutingFile } from "../../src/router/config.js";
import { closedPortUrl, FakeUpstream } from "../helpers/fake-upstream.js";
import { chat, collect, collectUntilError, type RouterSetup, recordingLogger, routerFor } from "./harness.js";

// In-process: the router in front of a Scheduler with the fake engine, and scripted upstreams on loopback.
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

function setup(file: RoutingFile = {}, opts: RouterSetup = {}) {
  return routerFor(
    {
      ...file,
      upstreams: file.upstreams ?? { cloud: { baseUrl: cloud.url, retries: 0, firstByteTimeoutMs: 2000 } },
    },
    opts,
  );
}

const HARD = "Prove that there are infinitely many primes of the form 4k+3, rigorously.";

test("model names pick the route, and the meta part says where and why", async () => {
  cloud.script = [{ kind: "ok", text: "cloud answer" }];
  const { router } = setup();
  assert.equal(router.resolveModel("local"), "fake-model");
  assert.equal(router.resolveModel(undefined), "fake-model");
  assert.equal(router.resolveModel("cloud"), "cloud");
  assert.equal(router.resolveModel("auto"), "auto");
  assert.deepEqual(
    router.listModels().map((m) => m.id),
    ["fake-model", "cloud", "auto"],
  );

  const local = await collect(router, chat("fake-model", "hi"));
  assert.deepEqual(local.meta, { route: "local", routeReason: "requested local", model: "fake-model" });
  assert.equal(local.text, "local answer");

  const named = await collect(router, chat("cloud", "hi"));
  assert.equal(named.meta.route, "cloud");
  assert.equal(named.meta.routeReason, "requested 'cloud'");
  assert.equal(named.meta.model, "fake-cloud-model");
  assert.equal(named.text, "cloud answer");
  const finish = named.parts.at(-1);
  assert.ok(finish?.type === "finish" && finish.usage.promptTokens === 1000);
  assert.equal(cloud.requests.at(-1)?.body.model, "cloud");

  const easy = await collect(router, chat("auto", "你好！"));
  assert.equal(easy.meta.route, "local");
  assert.match(easy.meta.routeReason ?? "", /^auto: difficulty 0\.\d\d < 0\.50/);
  const hard = await collect(router, chat("auto", HARD));
  assert.equal(hard.meta.route, "cloud");
  assert.match(hard.meta.routeReason ?? "", /^auto: difficulty \d\.\d\d >= 0\.50 \(proof/);
});

test("fallback to local before the first byte: refused connection, 500, 429, timeout", async (t) => {
  const refused = await closedPortUrl();
  const cases = [
    { name: "refused", url: refused, script: [], expect: /connection error \(ECONNREFUSED\)/ },
    { name: "500", url: cloud.url, script: [{ kind: "status", status: 500 } as const], expect: /500/ },
    { name: "429", url: cloud.url, script: [{ kind: "status", status: 429 } as const], expect: /429/ },
    {
      name: "timeout",
      url: cloud.url,
      script: [{ kind: "hang" } as const],
      expect: /: timeout \(first byte after 0\.3 s\)$/,
      attempts: 1, // the timeout used up the whole wait before fallback
    },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      cloud.script = c.script.length ? c.script : [{ kind: "ok" }];
      const before = cloud.requests.length;
      const { router, registry } = setup({
        upstreams: { cloud: { baseUrl: c.url, retries: 1, retryBackoffMs: 10, firstByteTimeoutMs: 300 } },
      });
      const started = Date.now();
      const { meta, text } = await collect(router, chat("cloud", "hi"));
      assert.equal(meta.route, "local");
      assert.match(meta.routeReason ?? "", /^fallback: upstream 'cloud' failed: /);
      assert.match(meta.routeReason ?? "", c.expect);
      assert.equal(text, "local answer");
      if (c.url === cloud.url)
        assert.equal(cloud.requests.length - before, c.attempts ?? 2, "one retry before falling back");
      assert.ok(Date.now() - started < 1500, "a timeout is a timeout");
      const failures = await registry.getSingleMetricAsString("edgellm_router_upstream_failures_total");
      assert.match(failures, /upstream="cloud"/);
    });
  }
});

test("an upstream dying mid-stream ends the stream with a typed error", async () => {
  cloud.script = [{ kind: "die-mid-stream", chunks: 2 }];
  const { router } = setup();
  const { parts, error } = await collectUntilError(router, chat("cloud", "hi"));
  assert.ok(error instanceof UpstreamError, String(error));
  assert.equal(error.code, "upstream_stream_broken");
  assert.equal(error.retryable, false);
  assert.match(error.message, /upstream 'cloud' failed mid-stream/);
  assert.equal(parts[0].type, "meta");
  assert.ok(parts.some((p) => p.type === "text-delta" && p.text === "part0 "));

  // Over HTTP it is the stream's last SSE event.
  const app = await buildServer({ provider: router });
  const res = await app.inject({
    method: "POST",
    url: "/v1/chat/completions",
    payload: { model: "cloud", stream: true, messages: [{ role: "user", content: "hi" }] },
  });
  assert.equal(res.statusCode, 200);
  const events = res.body.trim().split("\n\n");
  assert.match(events.at(-1) ?? "", /"code":"upstream_stream_broken"/);
  await app.close();
});

test("the circuit breaker opens after repeated failures and closes after a successful probe", async () => {
  cloud.script = [{ kind: "status", status: 503 }];
  const { router } = setup({
    upstreams: { cloud: { baseUrl: cloud.url, retries: 0 } },
    breaker: { failures: 2, cooldownMs: 300 },
  });
  const start = cloud.requests.length;
  for (let i = 0; i < 2; i++)
    assert.match((await collect(router, chat("cloud", "hi"))).meta.routeReason ?? "", /fallback/);
  assert.equal(router.upstream("cloud")?.status[0].circuit, "open");
  const refused = await collect(router, chat("cloud", "hi"));
  assert.equal(refused.meta.route, "local");
  assert.match(refused.meta.routeReason ?? "", /circuit open/);
  assert.equal(cloud.requests.length - start, 2, "an open circuit sends nothing upstream");

  await new Promise((r) => setTimeout(r, 350));
  assert.equal(router.upstream("cloud")?.status[0].circuit, "half-open");
  cloud.script = [{ kind: "ok", text: "back" }];
  const probe = await collect(router, chat("cloud", "hi"));
  assert.equal(probe.meta.route, "cloud");
  assert.equal(probe.text, "back");
  assert.equal(router.upstream("cloud")?.status[0].circuit, "closed");
});

test("the daily budget sends requests local once spent", async () => {
  cloud.script = [{ kind: "ok" }];
  // The fake upstream reports 1000 prompt + 500 completion tokens: 1.0 + 1.0 = 2.0 per request.
  const { router, registry } = setup({
    upstreams: { cloud: { baseUrl: cloud.url, price: { input: 1, output: 2 } } },
    budget: { daily: 3, currency: "CNY" },
  });
  for (let i = 0; i < 2; i++) assert.equal((await collect(router, chat("cloud", "hi"))).meta.route, "cloud");
  assert.equal(router.budget.spentToday, 4);
  const third = await collect(router, chat("cloud", "hi"));
  assert.equal(third.meta.route, "local");
  assert.match(third.meta.routeReason ?? "", /daily cloud budget is spent \(4\.0000 of 3CNY\)/);
  const cost = await registry.getSingleMetricAsString("edgellm_router_cost_total");
  assert.match(cost, /route="cloud"} 4/);
});

test("redaction removes personal data before a request leaves, and only then", async () => {
  cloud.script = [{ kind: "ok" }];
  const { router } = setup({ redact: true });
  const secret = "Mail me at zhang.san@example.com or call 138 1234 5678; my ID is 11010519491231002X.";
  await collect(router, chat("cloud", secret));
  const sent = JSON.stringify(cloud.requests.at(-1)?.body);
  assert.doesNotMatch(sent, /zhang\.san|1234 5678|11010519491231002X/);
  assert.match(sent, /\[EMAIL\].*\[PHONE\].*\[ID_NUMBER\]/);
});

test("cloud switches: server-wide, per request (body and header), and overflow of a full local queue", async () => {
  cloud.script = [{ kind: "ok" }];
  const off = setup({ cloud: false });
  const denied = await collect(off.router, chat("cloud", "hi"));
  assert.equal(denied.meta.route, "local");
  assert.match(denied.meta.routeReason ?? "", /the cloud is disabled on this server/);

  const { router, engine } = setup({}, { maxQueue: 0, stepDelayMs: 20 });
  const perRequest = await collect(router, chat("auto", HARD, { routing: { allowCloud: false } }));
  assert.equal(perRequest.meta.route, "local");
  assert.match(perRequest.meta.routeReason ?? "", /the request does not allow the cloud/);

  const app = await buildServer({ provider: router });
  for (const how of [
    { headers: { "x-edgellm-allow-cloud": "false" } },
    { body: { edgellm: { allow_cloud: false } } },
  ]) {
    const res = await app.inject({
      method: "POST",
      url: "/v1/chat/completions",
      headers: how.headers ?? {},
      payload: { model: "cloud", messages: [{ role: "user", content: "hi" }], ...how.body },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers["x-edgellm-route"], "local");
  }
  const bad = await app.inject({
    method: "POST",
    url: "/v1/chat/completions",
    headers: { "x-edgellm-allow-cloud": "maybe" },
    payload: { model: "cloud", messages: [{ role: "user", content: "hi" }] },
  });
  assert.equal(bad.statusCode, 400);
  await app.close();

  // One slot, no queue: a second local request is refused by the scheduler and overflows.
  const holder = collect(router, chat("local", "hold the slot"));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(engine.active, 1);
  const spilled = await collect(router, chat("local", "hi"));
  assert.equal(spilled.meta.route, "cloud");
  assert.match(spilled.meta.routeReason ?? "", /^overflow: the local queue is full/);
  await holder;
  const { router: noOverflow, engine: e2 } = setup({ overflow: false }, { maxQueue: 0, stepDelayMs: 20 });
  const held = collect(noOverflow, chat("local", "hold"));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(e2.active, 1);
  await assert.rejects(collect(noOverflow, chat("local", "hi")), QueueFullError);
  await held;
});

test("cascade keeps a confident local answer and escalates a doubtful one", async () => {
  cloud.script = [{ kind: "ok", text: "cloud answer" }];
  const replies: Record<string, string> = {
    capital: "The capital of France is Paris.",
    weather: "I'm not sure, I don't know.",
  };
  const { router, registry } = setup(
    { cascade: { enabled: true } },
    { reply: (p) => (p.includes("capital") ? replies.capital : replies.weather) },
  );
  const kept = await collect(router, chat("auto", "What is the capital of France?"));
  assert.equal(kept.meta.route, "local");
  assert.match(kept.meta.routeReason ?? "", /cascade: kept the local answer, confidence/);
  assert.equal(kept.text, replies.capital);
  assert.ok(kept.parts.every((p) => p.type !== "text-delta" || p.logprobs === undefined));

  const escalated = await collect(router, chat("auto", "Will it rain in Hangzhou tomorrow?"));
  assert.equal(escalated.meta.route, "cloud", escalated.meta.routeReason);
  assert.match(
    escalated.meta.routeReason ?? "",
    /cascade: escalated to 'cloud', local confidence 0\.\d\d \(hedges/,
  );
  assert.equal(escalated.text, "cloud answer");
  assert.match(
    await registry.getSingleMetricAsString("edgellm_router_cascade_total"),
    /outcome="escalated"} 1/,
  );
  // Only the escalated local answer is counted as discarded, never the kept one.
  const discarded = await registry.getSingleMetricAsString("edgellm_router_cascade_discarded_tokens_total");
  const completion = Number(/kind="completion"} (\d+)/.exec(discarded)?.[1]);
  assert.equal(completion, [...replies.weather].length, discarded);

  // Requests that name a route are never cascaded.
  const named = await collect(router, chat("local", "Will it rain?"));
  assert.equal(named.meta.routeReason, "requested local");
});

test("health checks mark a dead replica down, and requests avoid it", async () => {
  const dead = await closedPortUrl();
  const { router } = setup({
    upstreams: { pair: { baseUrl: [dead, cloud.url], retries: 0, healthCheckMs: 60_000 } },
  });
  const pair = router.upstream("pair");
  assert.ok(pair);
  await pair.checkHealth();
  assert.deepEqual(
    pair.status.map((s) => s.healthy),
    [false, true],
  );
  cloud.script = [{ kind: "ok" }];
  for (let i = 0; i < 4; i++) {
    const served = await collect(router, chat("pair", `conversation ${i}`));
    assert.equal(served.meta.route, "pair");
    assert.match(served.meta.routeReason ?? "", /replica 2\/2/);
  }
  router.dispose();
});

test("an upstream's JSON answer is validated against the schema and asked again when invalid", async () => {
  const { router } = setup();
  const schema = { type: "object", properties: { city: { type: "string" } }, required: ["city"] };
  const format = { kind: "json_schema" as const, name: "place", schema };
  cloud.requests.length = 0;
  cloud.script = [
    { kind: "ok", text: "not json at all" },
    { kind: "ok", text: '{"town": "Paris"}' },
    { kind: "ok", text: '{"city": "Paris"}' },
  ];
  const { text } = await collect(router, chat("cloud", "Where?", { format }));
  assert.deepEqual(JSON.parse(text), { city: "Paris" });
  assert.equal(cloud.requests.length, 3, "two invalid answers were retried");
  cloud.script = [{ kind: "ok" }];
  router.dispose();
});

test("a tool call answer to a request with a response format reaches the client, once", async () => {
  const { router } = setup();
  const schema = { type: "object", properties: { city: { type: "string" } }, required: ["city"] };
  const tools = [
    { name: "weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
  ];
  const request = chat("cloud", "Weather in Paris?", {
    format: { kind: "json_schema", name: "place", schema },
    toolChoice: "auto",
  });
  assert.ok(request.prompt.kind === "chat");
  request.prompt.tools = tools;
  cloud.requests.length = 0;
  cloud.script = [{ kind: "tool-call", name: "weather", arguments: '{"city": "Paris"}' }];
  const { parts, meta } = await collect(router, request);
  assert.equal(meta.route, "cloud", meta.routeReason);
  assert.equal(cloud.requests.length, 1, "a tool call is not retried as invalid JSON");
  assert.ok(Array.isArray(cloud.requests[0].body.tools), "the tools went upstream");
  const calls = parts.flatMap((p) => (p.type === "tool-call-delta" ? [p] : []));
  assert.equal(calls[0]?.name, "weather");
  assert.equal(calls.map((c) => c.argumentsDelta).join(""), '{"city": "Paris"}');
  const finish = parts.at(-1);
  assert.equal(finish?.type === "finish" && finish.finishReason, "tool_calls");
  cloud.script = [{ kind: "ok" }];
  router.dispose();
});

test("an upstream's 429 reaches a client that local cannot serve as 429 with the upstream's Retry-After", async () => {
  const { router, engine } = setup(
    { upstreams: { cloud: { baseUrl: cloud.url, retries: 0 } } },
    { maxQueue: 0, stepDelayMs: 20 },
  );
  cloud.script = [{ kind: "status", status: 429, headers: { "retry-after": "7" } }];
  const app = await buildServer({ provider: router });
  const holder = collect(router, chat("local", "hold the slot"));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(engine.active, 1);
  const res = await app.inject({
    method: "POST",
    url: "/v1/chat/completions",
    payload: { model: "cloud", messages: [{ role: "user", content: "hi" }] },
  });
  await holder;
  assert.equal(res.statusCode, 429, res.body);
  assert.equal(res.headers["retry-after"], "7");
  const { error } = res.json();
  assert.equal(error.type, "rate_limit_error");
  assert.equal(error.code, "upstream_rate_limited");
  assert.equal(error.message, "upstream 'cloud' failed: HTTP 429: scripted 429");
  cloud.script = [{ kind: "ok" }];
  await app.close();
});

test("a misnamed upstream model is named in the log and the route reason, and skipped until listed", async () => {
  const { logger, lines } = recordingLogger();
  cloud.models = ["qwen-max"];
  const { router } = setup(
    { upstreams: { cloud: { baseUrl: cloud.url, model: "qwen-mx", retries: 0 } } },
    { logger },
  );
  const upstream = router.upstream("cloud");
  assert.ok(upstream);
  await upstream.checkModels(); // the check made at start, awaited
  assert.ok(
    lines.some(
      (l) =>
        l.level === "warn" &&
        l.message ===
          "upstream 'cloud' has no model 'qwen-mx' (it lists 'qwen-max'); requests to it will fall back",
    ),
    JSON.stringify(lines),
  );
  cloud.requests.length = 0;
  cloud.script = [{ kind: "status", status: 404, code: "model_not_found" }];
  const first = await collect(router, chat("cloud", "hi"));
  assert.equal(first.meta.route, "local");
  assert.equal(first.meta.routeReason, "fallback: upstream 'cloud' has no model 'qwen-mx'");
  const second = await collect(router, chat("cloud", "hi"));
  assert.equal(second.meta.routeReason, "requested 'cloud', but upstream 'cloud' has no model 'qwen-mx'");
  assert.equal(cloud.requests.length, 1, "known missing: not asked again");

  cloud.models = ["qwen-max", "qwen-mx"];
  cloud.script = [{ kind: "ok", text: "found" }];
  await upstream.checkHealth();
  assert.equal(lines.at(-1)?.message, "upstream 'cloud' now lists model 'qwen-mx'");
  const third = await collect(router, chat("cloud", "hi"));
  assert.equal(third.meta.route, "cloud", third.meta.routeReason);
  cloud.models = undefined;
  router.dispose();
});

test("an upstream without a model list is not blocked, and its 404 for the model is still named", async () => {
  const { logger, lines } = recordingLogger();
  const { router } = setup(
    { upstreams: { cloud: { baseUrl: cloud.url, model: "qwen-mx", retries: 0 } } },
    { logger },
  );
  await router.upstream("cloud")?.checkModels();
  assert.deepEqual(
    lines.map((l) => l.message),
    ["upstream 'cloud' does not list its models (GET /models: HTTP 404); model 'qwen-mx' is not checked"],
  );
  cloud.script = [{ kind: "ok", text: "served" }];
  assert.equal((await collect(router, chat("cloud", "hi"))).meta.route, "cloud");
  cloud.script = [{ kind: "status", status: 404, code: "model_not_found" }];
  const missing = await collect(router, chat("cloud", "hi"));
  assert.equal(missing.meta.routeReason, "fallback: upstream 'cloud' has no model 'qwen-mx'");
  cloud.script = [{ kind: "ok" }];
  router.dispose();
});
