import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { FakeUpstream } from "../helpers/fake-upstream.js";
import { type ServerProcess, startServerProcess } from "../helpers/server-process.js";
import { tinyModelPath } from "../helpers/tiny-model.js";

// The real `serve` at --log-level debug in front of an upstream that echoes the Authorization header
// and the request body in every error it sends. Neither the configured key nor a key the caller put in
// the prompt may come out anywhere: headers, bodies, SSE events, /metrics, the log.
const KEY = `sk-proj-${randomBytes(24).toString("base64url")}`;
const CALLER_KEY = `sk-caller-${randomBytes(16).toString("hex")}`;
let echo: FakeUpstream;
let server: ServerProcess;
const seen: string[] = [];

before(async () => {
  echo = await new FakeUpstream().start();
  const dir = await mkdtemp(join(tmpdir(), "edgellm-secrets-"));
  const config = join(dir, "routing.json");
  await writeFile(
    config,
    JSON.stringify({
      upstreams: { echo: { baseUrl: echo.url, retryBackoffMs: 10 } },
      breaker: { failures: 1000 },
    }),
  );
  // The helper passes --log-level warn first; commander keeps the last.
  server = await startServerProcess(
    [
      "--model",
      await tinyModelPath(),
      "--ctx-size",
      "512",
      "--threads",
      "1",
      "--config",
      config,
      "--log-level",
      "debug",
      "--upstream-first-byte-timeout",
      "0.5",
    ],
    { EDGELLM_UPSTREAM_ECHO_API_KEY: KEY },
  );
});

after(async () => {
  await server?.stop();
  await echo?.stop();
});

async function post(body: Record<string, unknown>) {
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${CALLER_KEY}` },
    body: JSON.stringify({ model: "echo", max_tokens: 4, ...body }),
  });
  const text = await res.text();
  seen.push(JSON.stringify([...res.headers]), text);
  return { status: res.status, headers: res.headers, text };
}

const ask = (content: string) => [{ role: "user", content: `${content} (my key is ${CALLER_KEY})` }];

test("an upstream's 401, 500 and 400 fall back with a short reason that carries nothing it said", async () => {
  for (const status of [401, 500, 400]) {
    echo.script = [{ kind: "echo", status }];
    for (const stream of [false, true]) {
      const res = await post({ messages: ask("hi"), stream });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get("x-edgellm-route"), "local");
      assert.equal(
        res.headers.get("x-edgellm-route-reason"),
        `fallback: upstream 'echo' failed: HTTP ${status}`,
      );
    }
  }
  assert.equal(echo.requests.at(-1)?.authorization, `Bearer ${KEY}`, "the upstream did get the key to echo");
});

test("when local cannot take over, the 502 body carries only a sanitized excerpt", async () => {
  echo.script = [{ kind: "echo", status: 401 }];
  const res = await post({ messages: ask("word ".repeat(2000)) }); // too long for the local context
  assert.equal(res.status, 502, res.text);
  const { error } = JSON.parse(res.text);
  assert.equal(error.code, "upstream_auth");
  assert.match(error.message, /^upstream 'echo' failed: HTTP 401: rejected Authorization: \[redacted\]/);
  assert.ok(error.message.length < 160);
});

test("an error event mid-stream ends the stream, sanitized, streaming or not", async () => {
  echo.script = [{ kind: "echo-mid-stream", chunks: 2 }];
  const streamed = await post({ messages: ask("hi"), stream: true });
  assert.equal(streamed.headers.get("x-edgellm-route"), "echo");
  const last = JSON.parse(
    streamed.text
      .trim()
      .split("\n\n")
      .at(-1)
      ?.replace(/^data: /, "") ?? "{}",
  );
  assert.equal(last.error?.code, "upstream_stream_broken");
  assert.match(last.error.message, /^upstream 'echo' failed mid-stream: error event in the stream: rejected/);
  const whole = await post({ messages: ask("hi") });
  assert.equal(whole.status, 502);
  assert.equal(JSON.parse(whole.text).error.code, "upstream_stream_broken");
});

test("--upstream-first-byte-timeout bounds the wait for a stalled upstream", async () => {
  echo.script = [{ kind: "hang" }];
  const started = Date.now();
  const res = await post({ messages: ask("hi"), stream: true });
  assert.equal(res.status, 200);
  assert.equal(
    res.headers.get("x-edgellm-route-reason"),
    "fallback: upstream 'echo' failed: timeout (first byte after 0.5 s)",
  );
  assert.match(res.text, /data: \[DONE\]/);
  assert.ok(Date.now() - started < 5000, "the local answer came soon after");
});

test("neither key appears in any header, body, event, metric or log line", async () => {
  const metrics = await fetch(`${server.url}/metrics`).then((r) => r.text());
  // The model list and the startup output name the upstream, never its key.
  for (const url of ["/v1/models", "/v1/models/echo"]) {
    const res = await fetch(`${server.url}${url}`);
    seen.push(JSON.stringify([...res.headers]), await res.text());
  }
  assert.ok(seen.at(-3)?.includes('"echo"'), "the upstream is listed");
  assert.match(server.output(), /^edgellm routing: echo -> .* \(key set\)/m);
  assert.match(metrics, /edgellm_router_upstream_failures_total\{upstream="echo",code="upstream_auth"\}/);
  const log = server.output();
  assert.match(log, /"level":40.*upstream 'echo' failed: HTTP 401/, "failures are logged at warn");
  assert.match(
    log,
    /"level":40.*fallback: upstream 'echo' failed: HTTP 500; answering locally/,
    "fallbacks too",
  );
  const everything = [...seen, metrics, log].join("\n");
  for (const secret of [KEY, CALLER_KEY]) {
    assert.ok(!everything.includes(secret), `${secret.slice(0, 8)}... leaked`);
    // Nor any recognisable piece of it.
    const body = secret.slice(secret.lastIndexOf("-") + 1);
    for (let i = 0; i + 12 <= body.length; i += 6)
      assert.ok(!everything.includes(body.slice(i, i + 12)), "a fragment of a key leaked");
  }
});
