import assert from "node:assert/strict";
import { test } from "node:test";
import {
  hostPolicy,
  isHostAllowed,
  isLoopbackName,
  isOriginAllowed,
  originPolicy,
} from "../../src/api/security/origins.js";
import { assertRefused, CHAT, metric, securedApp } from "./security-helpers.js";

// The Origin and Host checks: which web pages may call the API, and which names the server answers to.

const post = (headers: Record<string, string>, payload = CHAT) => ({
  method: "POST" as const,
  url: "/v1/chat/completions",
  headers: { host: "127.0.0.1:8080", "content-type": "text/plain", ...headers },
  payload,
});

test("curl and SDKs, which send no Origin, are served as before", async () => {
  const { app, engine } = await securedApp();
  const res = await app.inject(post({}));
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers["x-content-type-options"], "nosniff");
  assert.equal(res.headers["access-control-allow-origin"], undefined);
  assert.equal(engine.calls.length, 1);
});

test("a page on another site is refused with 403 before its body is read or anything generated", async () => {
  const { app, engine, metrics } = await securedApp();
  const evil = [
    "https://evil.example",
    "http://localhost.evil.com",
    "http://127.0.0.1.evil.com:8080",
    "http://evil.example:8080",
    "null",
    // Not serialized origins: a browser never sends these, a forger might.
    "http://localhost:3000/",
    "http://user@localhost:3000",
    "HTTP://LOCALHOST:3000",
    "file://",
    "chrome-extension://abcdef",
  ];
  for (const origin of evil) {
    // text/plain: the "simple" request a page may send without a preflight.
    const res = await app.inject(post({ origin }));
    assertRefused(res, 403, "origin_not_allowed");
    // Even a body that would be a 400 or a 413 gets the 403: nothing was parsed.
    assertRefused(await app.inject(post({ origin }, "{not json")), 403, "origin_not_allowed");
    assertRefused(await app.inject(post({ origin }, "x".repeat(9 * 1024 * 1024))), 403, "origin_not_allowed");
  }
  assert.equal(engine.calls.length, 0);
  assert.equal(
    await metric(metrics, 'edgellm_refused_requests_total{code="origin_not_allowed"}'),
    evil.length * 3,
  );
  assert.doesNotMatch(await metrics.registry.metrics(), /edgellm_requests_total\{/);
  // `null` gets its own message: it is what sandboxed frames and file:// pages send.
  const res = await app.inject(post({ origin: "null" }));
  assert.match(res.json().error.message, /opaque origin/);
});

test("preflights: refused for other sites, answered with CORS headers for allowed pages", async () => {
  const { app } = await securedApp();
  const preflight = (origin: string) =>
    app.inject({
      method: "OPTIONS",
      url: "/v1/chat/completions",
      headers: {
        host: "127.0.0.1:8080",
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
      },
    });
  assertRefused(await preflight("https://evil.example"), 403, "origin_not_allowed");
  assertRefused(await preflight("null"), 403, "origin_not_allowed");
  const ok = await preflight("http://localhost:5173");
  assert.equal(ok.statusCode, 204);
  assert.equal(ok.headers["access-control-allow-origin"], "http://localhost:5173");
  assert.match(String(ok.headers["access-control-allow-methods"]), /POST/);
  assert.equal(ok.headers["access-control-allow-headers"], "authorization,content-type");
  assert.equal(ok.headers["access-control-max-age"], "600");
  assert.match(String(ok.headers.vary), /Origin/);
});

test("loopback pages and the server's own page are allowed, streaming too, with CORS headers", async () => {
  const { app, engine } = await securedApp();
  for (const origin of [
    "http://localhost:5173",
    "http://127.0.0.1:9",
    "http://[::1]:3000",
    "http://localhost",
  ]) {
    const res = await app.inject(post({ origin }));
    assert.equal(res.statusCode, 200, origin);
    assert.equal(res.headers["access-control-allow-origin"], origin);
  }
  // A streamed answer is written past Fastify's reply: its CORS and nosniff headers must still be there.
  const stream = await app.inject(
    post({ origin: "http://localhost:5173" }, JSON.stringify({ ...JSON.parse(CHAT), stream: true })),
  );
  assert.equal(stream.statusCode, 200);
  assert.match(String(stream.headers["content-type"]), /text\/event-stream/);
  assert.equal(stream.headers["access-control-allow-origin"], "http://localhost:5173");
  assert.equal(stream.headers["x-content-type-options"], "nosniff");
  assert.equal(engine.calls.length, 5);

  // Bound beyond loopback (no Host check), the page the server itself served is its own origin.
  const exposed = await securedApp({ hosts: null });
  const own = await exposed.app.inject(post({ host: "192.168.1.5:8080", origin: "http://192.168.1.5:8080" }));
  assert.equal(own.statusCode, 200);
  const other = await exposed.app.inject(
    post({ host: "192.168.1.5:8080", origin: "http://192.168.1.5:9999" }),
  );
  assertRefused(other, 403, "origin_not_allowed");
});

test("--cors-origins adds exact origins, any-port and subdomain patterns, '*' (never null), and null by name", () => {
  const policy = originPolicy(["https://app.example.com", "http://dev.example:*", "https://*.corp.example"]);
  const allowed = (origin: string) => isOriginAllowed(policy, origin, "127.0.0.1:8080");
  assert.ok(allowed("https://app.example.com"));
  assert.ok(!allowed("http://app.example.com"));
  assert.ok(!allowed("https://app.example.com:8443"));
  assert.ok(allowed("http://dev.example:1234"));
  assert.ok(allowed("http://dev.example"));
  assert.ok(allowed("https://a.corp.example"));
  assert.ok(allowed("https://a.b.corp.example"));
  assert.ok(!allowed("https://corp.example"));
  assert.ok(!allowed("https://evilcorp.example"));
  assert.ok(!allowed("https://evil.example"));
  assert.ok(!allowed("null"));
  // A default port written out is the same origin as none.
  assert.ok(
    isOriginAllowed(originPolicy(["https://app.example.com:443"]), "https://app.example.com", undefined),
  );

  const any = originPolicy(["*"]);
  assert.ok(isOriginAllowed(any, "https://evil.example", undefined));
  assert.ok(!isOriginAllowed(any, "null", undefined));
  assert.ok(isOriginAllowed(originPolicy(["null"]), "null", undefined));

  for (const bad of [
    "example.com",
    "ftp://example.com",
    "https://example.com/path",
    "https://*",
    "http://a:99999x",
  ])
    assert.throws(() => originPolicy([bad]), /--cors-origins/, bad);
});

test("--cors-origins in the app: the listed page gets its answer and CORS headers", async () => {
  const { app } = await securedApp({ origins: originPolicy(["https://app.example.com"]) });
  const res = await app.inject(post({ origin: "https://app.example.com" }));
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers["access-control-allow-origin"], "https://app.example.com");
  assertRefused(await app.inject(post({ origin: "https://app.example.org" })), 403, "origin_not_allowed");
});

test("Sec-Fetch-Site: cross-site without an Origin is refused, except following a link", async () => {
  const { app, engine } = await securedApp();
  const get = (headers: Record<string, string>) =>
    app.inject({ method: "GET", url: "/v1/models", headers: { host: "127.0.0.1:8080", ...headers } });
  // <script src> or <img src> on another site: a no-cors GET, which carries no Origin.
  assertRefused(
    await get({ "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors" }),
    403,
    "origin_not_allowed",
  );
  const form = await app.inject(post({ "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate" }));
  // A navigation that POSTs (a form) would carry an Origin; one without is let through like a link.
  assert.equal(form.statusCode, 200);
  assert.equal((await get({ "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate" })).statusCode, 200);
  assert.equal((await get({ "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors" })).statusCode, 200);
  assert.equal((await get({ "sec-fetch-site": "none", "sec-fetch-mode": "navigate" })).statusCode, 200);
  assert.equal(engine.calls.length, 1);
});

test("bound to loopback, a Host that is not a loopback name is refused: DNS rebinding", async () => {
  const { app, engine, metrics } = await securedApp();
  for (const host of [
    "attacker.example",
    "attacker.example:8080",
    "localhost.evil.com:8080",
    "127.0.0.1.nip.io",
    "evil.localhost:8080",
    "a@localhost:8080",
    "192.168.1.5:8080",
  ]) {
    for (const request of [
      post({ host }),
      { method: "GET" as const, url: "/health", headers: { host } },
      { method: "GET" as const, url: "/", headers: { host } },
    ])
      assertRefused(await app.inject(request), 403, "host_not_allowed");
  }
  assert.equal(engine.calls.length, 0);
  assert.equal(await metric(metrics, 'edgellm_refused_requests_total{code="host_not_allowed"}'), 21);
  for (const host of [
    "localhost:8080",
    "LOCALHOST",
    "localhost.:8080",
    "127.0.0.1:8080",
    "127.0.0.2",
    "[::1]:8080",
  ])
    assert.equal(
      (await app.inject({ method: "GET", url: "/health", headers: { host } })).statusCode,
      200,
      host,
    );
});

test("--allowed-hosts adds names and subdomains; beyond loopback the check is off or allows addresses", async () => {
  const listed = await securedApp({
    hosts: hostPolicy(["llm.example.com", ".corp.example"], { anyAddress: false }),
  });
  const health = (app: typeof listed.app, host: string) =>
    app.inject({ method: "GET", url: "/health", headers: { host } }).then((r) => r.statusCode);
  assert.equal(await health(listed.app, "llm.example.com:8080"), 200);
  assert.equal(await health(listed.app, "a.corp.example"), 200);
  assert.equal(await health(listed.app, "corp.example"), 403);
  assert.equal(await health(listed.app, "llm.example.com.evil.net"), 403);
  assert.equal(await health(listed.app, "localhost:8080"), 200);

  const unchecked = await securedApp({ hosts: null });
  assert.equal(await health(unchecked.app, "attacker.example"), 200);

  const addresses = hostPolicy([], { anyAddress: true });
  assert.ok(isHostAllowed(addresses, "192.168.1.5:8080"));
  assert.ok(isHostAllowed(addresses, "[fd00::5]:8080"));
  assert.ok(!isHostAllowed(addresses, "attacker.example:8080"));
  assert.ok(isHostAllowed(hostPolicy(["*"], { anyAddress: false }), "attacker.example"));
  assert.ok(isHostAllowed(hostPolicy(["[FD00::0:5]"], { anyAddress: false }), "[fd00::5]"));
  for (const bad of ["llm.example.com:8080", "http://llm.example.com", "a b", "x/y"])
    assert.throws(() => hostPolicy([bad], { anyAddress: false }), /--allowed-hosts/, bad);
});

test("loopback names are localhost and the loopback addresses only", () => {
  for (const name of [
    "localhost",
    "127.0.0.1",
    "127.1.2.3",
    "::1",
    "[::1]",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
  ])
    assert.ok(isLoopbackName(name), name);
  for (const name of [
    "0.0.0.0",
    "::",
    "192.168.1.5",
    "localhost.evil.com",
    "evil.localhost",
    "128.0.0.1",
    "::2",
  ])
    assert.ok(!isLoopbackName(name), name);
});

test("the chat page keeps its strict CSP, no framing, no referrer; every response is nosniff", async () => {
  const { app } = await securedApp();
  const page = await app.inject({ method: "GET", url: "/" });
  assert.equal(page.statusCode, 200);
  const csp = String(page.headers["content-security-policy"]);
  for (const directive of [
    "default-src 'self'",
    "script-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ])
    assert.ok(csp.includes(directive), `CSP lacks ${directive}: ${csp}`);
  assert.doesNotMatch(csp, /script-src[^;]*'unsafe-(inline|eval)'/);
  assert.equal(page.headers["referrer-policy"], "no-referrer");
  for (const request of [
    { method: "GET" as const, url: "/" },
    { method: "GET" as const, url: "/assets/index-abc123.js" },
    { method: "GET" as const, url: "/health" },
    { method: "GET" as const, url: "/metrics" },
    { method: "GET" as const, url: "/v1/models" },
    { method: "GET" as const, url: "/v1/nothing" },
    { method: "OPTIONS" as const, url: "/v1/chat/completions" },
    post({}),
    post({}, "{not json"),
  ]) {
    const res = await app.inject(request);
    assert.equal(res.headers["x-content-type-options"], "nosniff", `${request.method} ${request.url}`);
  }
});
