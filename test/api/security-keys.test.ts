import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { apiKey, KeyRing, parseKeyFile, presentedKey } from "../../src/api/security/keys.js";
import { assertRefused, CHAT, metric, securedApp } from "./security-helpers.js";

// API keys in-process: who must present one, how, what a wrong one gets, and per-key limits.

const ALICE = "sk-test-alice-0123456789abcdef";
const OTHER = "sk-test-other-fedcba9876543210";
const shortHash = (key: string) => createHash("sha256").update(key).digest("hex").slice(0, 4);

const keyed = (options: Parameters<typeof securedApp>[0] = {}) =>
  securedApp({ keys: [apiKey(ALICE, { label: "alice" }), apiKey(OTHER)], ...options });

const chat = (headers: Record<string, string> = {}, payload = CHAT) => ({
  method: "POST" as const,
  url: "/v1/chat/completions",
  headers: { "content-type": "application/json", ...headers },
  payload,
});

test("with keys set, a request with no key or a wrong one gets 401 invalid_api_key and does nothing", async () => {
  const { app, engine, metrics } = await keyed();
  const cases: Record<string, string>[] = [
    {},
    { authorization: "Bearer sk-wrong-key-0000000000" },
    { authorization: `Bearer ${ALICE}x` },
    { authorization: `Bearer ${ALICE.slice(0, -1)}` },
    { authorization: `Basic ${Buffer.from(`u:${ALICE}`).toString("base64")}` },
    { "x-api-key": "sk-wrong-key-0000000000" },
    { authorization: "Bearer" },
  ];
  for (const headers of cases) {
    const res = await app.inject(chat(headers));
    assertRefused(res, 401, "invalid_api_key");
    assert.equal(res.headers["www-authenticate"], 'Bearer realm="edgellm"');
    // Never echoed, not even in part.
    assert.ok(!res.body.includes("sk-wrong") && !res.body.includes("sk-test"), res.body);
  }
  assert.match((await app.inject(chat())).json().error.message, /Authorization: Bearer KEY/);
  assert.match((await app.inject(chat({ "x-api-key": "sk-wrong-key-0" }))).json().error.message, /not valid/);
  assert.equal(engine.calls.length, 0);
  assert.equal(
    await metric(metrics, 'edgellm_refused_requests_total{code="invalid_api_key"}'),
    cases.length + 2,
  );
});

test("a key works as `Authorization: Bearer` (any case) or as `x-api-key`", async () => {
  const { app, engine, metrics } = await keyed();
  const variants: Record<string, string>[] = [
    { authorization: `Bearer ${ALICE}` },
    { authorization: `bearer  ${OTHER} ` },
    { "x-api-key": ALICE },
    // A client that sends some other scheme and the key apart.
    { authorization: "Basic dTpw", "x-api-key": OTHER },
  ];
  for (const headers of variants) {
    const res = await app.inject(chat(headers));
    assert.equal(res.statusCode, 200, JSON.stringify(headers));
  }
  assert.equal(engine.calls.length, 4);
  assert.equal(await metric(metrics, 'edgellm_key_requests_total{key="alice"}'), 2);
  assert.equal(await metric(metrics, `edgellm_key_requests_total{key="key-${shortHash(OTHER)}"}`), 2);
  // "user:abc|" is 9 tokens on the fake engine, and so is its reversed answer.
  assert.equal(await metric(metrics, 'edgellm_key_tokens_total{key="alice",kind="prompt"}'), 18);
  assert.equal(await metric(metrics, 'edgellm_key_tokens_total{key="alice",kind="completion"}'), 18);
});

test("/health and the page's files stay open; /metrics, the models and unknown paths need the key", async () => {
  const { app, metrics } = await keyed();
  const get = (url: string, headers: Record<string, string> = {}) =>
    app.inject({ method: "GET", url, headers });
  for (const url of ["/health", "/", "/index.html", "/assets/index-abc123.js"]) {
    assert.equal((await get(url)).statusCode, 200, url);
    assert.equal((await app.inject({ method: "HEAD", url })).statusCode, 200, `HEAD ${url}`);
  }
  for (const url of [
    "/metrics",
    "/v1/models",
    "/models",
    "/v1/models/fake-model",
    "/v1/nothing",
    "/assets/x.js",
  ])
    assertRefused(await get(url), 401, "invalid_api_key");
  const auth = { authorization: `Bearer ${ALICE}` };
  assert.equal((await get("/metrics", auth)).statusCode, 200);
  assert.equal((await get("/v1/models", auth)).json().data[0].id, "fake-model");
  assert.equal((await get("/v1/nothing", auth)).statusCode, 404);
  // The key itself never reaches the metrics: only its label.
  const text = await metrics.registry.metrics();
  assert.ok(!text.includes(ALICE) && !text.includes(OTHER));
});

test("--public-metrics opens GET /metrics alone to scrapers without a key", async () => {
  const { app } = await keyed({ publicMetrics: true });
  const get = (url: string) => app.inject({ method: "GET", url });
  const scraped = await get("/metrics");
  assert.equal(scraped.statusCode, 200);
  assert.match(scraped.body, /vllm:num_requests_waiting/);
  for (const url of ["/v1/models", "/v1/nothing"]) assertRefused(await get(url), 401, "invalid_api_key");
  assertRefused(await app.inject(chat()), 401, "invalid_api_key");
});

test("a page on an allowed origin gets its preflight without a key, and can read a 401 to ask for one", async () => {
  const { app } = await keyed();
  const origin = "http://localhost:5173";
  const preflight = await app.inject({
    method: "OPTIONS",
    url: "/v1/chat/completions",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization",
    },
  });
  assert.equal(preflight.statusCode, 204);
  assert.equal(preflight.headers["access-control-allow-origin"], origin);
  const refused = await app.inject(chat({ origin }));
  assert.equal(refused.statusCode, 401);
  assert.equal(refused.headers["access-control-allow-origin"], origin);
  assert.equal(refused.json().error.code, "invalid_api_key");
  // Another site is refused for its origin before its key is even looked at.
  assertRefused(
    await app.inject(chat({ origin: "https://evil.example", authorization: `Bearer ${ALICE}` })),
    403,
    "origin_not_allowed",
  );
});

test("--key-rpm: the request past the limit gets 429 rate_limit_exceeded with Retry-After, per key", async () => {
  let now = Date.parse("2026-03-01T12:00:00");
  const { app, engine, metrics } = await securedApp({
    keys: [apiKey(ALICE, { label: "alice" }), apiKey(OTHER, { label: "free", rpm: 0 })],
    limits: { rpm: 2 },
    now: () => now,
  });
  const alice = { authorization: `Bearer ${ALICE}` };
  assert.equal((await app.inject(chat(alice))).statusCode, 200);
  now += 10_000;
  assert.equal((await app.inject(chat(alice))).statusCode, 200);
  let res = await app.inject(chat(alice));
  assert.equal(res.statusCode, 429);
  assert.equal(res.headers["retry-after"], "50");
  assert.deepEqual(res.json().error, {
    message: "Rate limit reached for key 'alice' on requests per minute: limit 2. Retry in 50 s.",
    type: "requests",
    param: null,
    code: "rate_limit_exceeded",
  });
  // Other routes are not counted, and a key with its own `rpm=0` has no limit.
  assert.equal((await app.inject({ method: "GET", url: "/v1/models", headers: alice })).statusCode, 200);
  for (let i = 0; i < 5; i++)
    assert.equal((await app.inject(chat({ authorization: `Bearer ${OTHER}` }))).statusCode, 200);
  now += 50_000; // the first request is a minute old: one more fits
  assert.equal((await app.inject(chat(alice))).statusCode, 200);
  res = await app.inject(chat(alice));
  assert.equal(res.statusCode, 429);
  assert.equal(res.headers["retry-after"], "10");
  assert.equal(engine.calls.length, 8);
  assert.equal(await metric(metrics, 'edgellm_key_rate_limited_total{key="alice",limit="rpm"}'), 2);
  assert.equal(await metric(metrics, 'edgellm_key_requests_total{key="alice"}'), 3);
});

test("--key-tpd: once a key's tokens for the day are used, 429 until midnight; streams count too", async () => {
  let now = new Date(2026, 2, 1, 23, 0, 0).getTime();
  const { app, metrics } = await securedApp({
    keys: [apiKey(ALICE, { label: "alice" }), apiKey(OTHER, { label: "big", tpd: 1000 })],
    limits: { tpd: 30 },
    now: () => now,
  });
  const alice = { authorization: `Bearer ${ALICE}` };
  // 18 tokens each: the second request starts under the limit and may cross it; the third may not start.
  assert.equal((await app.inject(chat(alice))).statusCode, 200);
  const streamed = await app.inject(chat(alice, JSON.stringify({ ...JSON.parse(CHAT), stream: true })));
  assert.match(streamed.body, /\[DONE\]/);
  const res = await app.inject(chat(alice));
  assert.equal(res.statusCode, 429);
  assert.equal(res.json().error.type, "tokens");
  assert.equal(res.json().error.code, "rate_limit_exceeded");
  assert.match(res.json().error.message, /tokens per day: limit 30, used 36/);
  assert.equal(res.headers["retry-after"], "3600");
  assert.equal((await app.inject(chat({ authorization: `Bearer ${OTHER}` }))).statusCode, 200);
  now += 3600_000; // a new day
  assert.equal((await app.inject(chat(alice))).statusCode, 200);
  assert.equal(await metric(metrics, 'edgellm_key_rate_limited_total{key="alice",limit="tpd"}'), 1);
  assert.equal(await metric(metrics, 'edgellm_key_tokens_total{key="alice",kind="prompt"}'), 27);
});

test("the key file: labels, per-key limits, comments; errors name the line and never quote a key", () => {
  const keys = parseKeyFile(
    [
      "# team keys",
      "",
      `alice: ${ALICE} rpm=30 tpd=100000`,
      `   ${OTHER}   `,
      "ci-bot@build: sk-test-ci-0000000000 rpm=0",
      "\t# indented comment",
    ].join("\r\n"),
    "keys.txt",
  );
  assert.deepEqual(
    keys.map(({ label, rpm, tpd }) => ({ label, rpm, tpd })),
    [
      { label: "alice", rpm: 30, tpd: 100000 },
      { label: `key-${shortHash(OTHER)}`, rpm: undefined, tpd: undefined },
      { label: "ci-bot@build", rpm: 0, tpd: undefined },
    ],
  );
  const ring = new KeyRing(keys);
  assert.equal(ring.find(ALICE)?.label, "alice");
  assert.equal(ring.find(OTHER)?.label, `key-${shortHash(OTHER)}`);
  assert.equal(ring.find("sk-test-ci-0000000000")?.label, "ci-bot@build");
  assert.equal(ring.find(`${ALICE} `), undefined);
  assert.equal(ring.find(""), undefined);

  const secret = "sk-test-secret-0123456789";
  for (const [text, why] of [
    [`a: ${secret} rpm=x`, /line 1: rpm must be a whole number/],
    [`# c\na: ${secret} burst=3`, /line 2: unknown option 'burst'/],
    [`a: ${secret} ${secret}`, /line 1: more than one key on a line/],
    ["a:", /line 1: a label without a key/],
    [`bad label: ${secret}`, /line 1: a label is .* with no space/],
    [`${"x".repeat(70)}: ${secret}`, /line 1: a label is 1 to 64/],
    ["a: short", /line 1: a key must have at least 8 characters/],
    [`a: ${secret}é`, /line 1: a key may hold printable ASCII/],
    [`a: ${secret}\n\nb: ${secret}`, /line 3: the key of line 1 again/],
  ] as const) {
    assert.throws(
      () => parseKeyFile(text, "keys.txt"),
      (error: Error) => {
        assert.match(error.message, /^keys\.txt /);
        assert.match(error.message, why);
        assert.ok(!error.message.includes(secret.slice(8)), error.message);
        return true;
      },
      text,
    );
  }
});

test("the presented key: Bearer first, then x-api-key", () => {
  assert.equal(presentedKey({ authorization: "Bearer abc", "x-api-key": "def" }), "abc");
  assert.equal(presentedKey({ authorization: "Token abc", "x-api-key": " def " }), "def");
  assert.equal(presentedKey({ authorization: "Bearer a b" }), undefined);
  assert.equal(presentedKey({}), undefined);
});

test("docs/api.md's error table lists every code of these refusals", async () => {
  const page = await readFile(new URL("../../../docs/api.md", import.meta.url), "utf8");
  for (const code of ["origin_not_allowed", "host_not_allowed", "invalid_api_key", "rate_limit_exceeded"])
    assert.ok(page.includes(`| \`${code}\``), `docs/api.md lacks ${code}`);
});
