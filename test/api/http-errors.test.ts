import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import net from "node:net";
import { after, before, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { buildServer } from "../../src/api/server.js";
import { Scheduler } from "../../src/scheduler/scheduler.js";
import { FakeEngine } from "../helpers/fake-engine.js";

// Errors raised before a route runs, over a real socket where inject cannot reach (timeouts, header
// overflow, bytes that are not HTTP): every one must be an OpenAI-shaped JSON body.

const BODY_TIMEOUT_MS = 600;
let app: FastifyInstance;
let engine: FakeEngine;
let port: number;
/** Every error code these tests saw, checked against docs/api.md's error table at the end. */
const seenCodes = new Set<string>();

before(async () => {
  engine = new FakeEngine(2, 4096);
  const scheduler = new Scheduler();
  scheduler.attach(engine);
  app = await buildServer({ provider: scheduler, bodyTimeoutMs: BODY_TIMEOUT_MS, webRoot: false });
  await app.listen({ host: "127.0.0.1", port: 0 });
  port = (app.server.address() as net.AddressInfo).port;
});

after(async () => {
  await app.close();
});

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Writes `chunks` on a fresh connection (a function is a pause, in ms) and reads until the server
 * closes it or `waitMs` passes, then parses the first response.
 */
function exchange(chunks: (string | number)[], waitMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let received = "";
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on("data", (data) => {
      received += data;
    });
    socket.on("error", () => {}); // a reset after the response is fine; the response is what we check
    socket.on("close", () => {
      clearTimeout(timer);
      try {
        resolve(parseResponse(received));
      } catch (error) {
        reject(error);
      }
    });
    socket.on("connect", async () => {
      for (const chunk of chunks) {
        if (typeof chunk === "number") await new Promise((r) => setTimeout(r, chunk));
        else if (!socket.destroyed) socket.write(chunk);
      }
    });
  });
}

function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf("\r\n\r\n");
  assert.ok(end > 0, `no HTTP response in ${JSON.stringify(raw.slice(0, 200))}`);
  const [statusLine, ...lines] = raw.slice(0, end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.slice(end + 4);
  if (headers["content-length"]) body = body.slice(0, Number(headers["content-length"]));
  return { status: Number(statusLine.split(" ")[1]), headers, body };
}

function assertOpenAIError(response: RawResponse, status: number, code: string) {
  assert.equal(response.status, status, response.body);
  assert.match(response.headers["content-type"] ?? "", /^application\/json/);
  const { error } = JSON.parse(response.body) as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(error).sort(), ["code", "message", "param", "type"]);
  assert.equal(error.code, code);
  assert.equal(typeof error.message, "string");
  seenCodes.add(code);
  return error as { message: string; code: string };
}

const chatBody = JSON.stringify({ messages: [{ role: "user", content: "hello" }] });

test("a body that stops arriving gets 408 request_timeout within the bound", async () => {
  const partial = chatBody.slice(0, 10);
  const started = Date.now();
  const response = await exchange([
    `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${chatBody.length}\r\n\r\n`,
    partial,
  ]);
  const error = assertOpenAIError(response, 408, "request_timeout");
  assert.match(error.message, /0\.6 s/);
  assert.equal(response.headers.connection, "close");
  // Generous bound: Node checks for expired requests periodically; without the timeout this waits 5 s.
  assert.ok(Date.now() - started < 4000, `took ${Date.now() - started} ms`);
  assert.equal(engine.calls.length, 0, "the cut request must never reach the model");
});

test("headers that never finish get 408 too", async () => {
  const response = await exchange(["POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"]);
  assertOpenAIError(response, 408, "request_timeout");
});

test("a streamed answer that lasts longer than the body timeout still completes", async () => {
  engine.stepDelayMs = 60;
  try {
    const content = "abcdefghijklmnopqrstuvwxyz"; // reversed back one character per 60 ms: about 2 s
    const started = Date.now();
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ messages: [{ role: "user", content }], stream: true }),
    });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(Date.now() - started > 2 * BODY_TIMEOUT_MS, "the answer must outlast the body timeout");
    assert.ok(text.trimEnd().endsWith("data: [DONE]"), text.slice(-200));
    const streamed = text
      .split("\n\n")
      .filter((block) => block.startsWith("data: {"))
      .map((block) => JSON.parse(block.slice(6)).choices[0]?.delta?.content ?? "")
      .join("");
    assert.equal(streamed, `|${[...content].reverse().join("")}:resu`);
  } finally {
    engine.stepDelayMs = 1;
  }
});

test("headers over Node's limit get 431 headers_too_large as JSON", async () => {
  const response = await exchange([
    `GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
  ]);
  assertOpenAIError(response, 431, "headers_too_large");
  // Written on the socket by hand, and still marked as what it is.
  assert.equal(response.headers["x-content-type-options"], "nosniff");
});

test("bytes that are not HTTP get 400 invalid_http_request", async () => {
  const response = await exchange(["NOT HTTP AT ALL\r\n\r\n"]);
  assertOpenAIError(response, 400, "invalid_http_request");
});

test("a malformed URL gets 400 invalid_url, without echoing it", async () => {
  const response = await exchange(
    [`GET /v1/models/%E0%A4%A${"x".repeat(5000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`],
    1000,
  );
  const error = assertOpenAIError(response, 400, "invalid_url");
  assert.ok(!error.message.includes("xxxx"));
});

test("an unknown path is 404 not_found; a known path with another method is 405 with Allow", async () => {
  let res = await app.inject({ method: "GET", url: "/v1/nothing" });
  assert.equal(res.statusCode, 404);
  assert.equal(res.json().error.code, "not_found");
  seenCodes.add("not_found");

  res = await app.inject({ method: "GET", url: "/v1/chat/completions" });
  assert.equal(res.statusCode, 405);
  assert.equal(res.headers.allow, "POST, OPTIONS");
  assert.equal(res.json().error.code, "method_not_allowed");
  seenCodes.add("method_not_allowed");

  res = await app.inject({ method: "DELETE", url: "/models/local?x=1" });
  assert.equal(res.statusCode, 405);
  assert.equal(res.headers.allow, "GET, HEAD, OPTIONS");

  res = await app.inject({ method: "PUT", url: "/v1/completions" });
  assert.equal(res.statusCode, 405);
  assert.equal(res.headers.allow, "POST, OPTIONS");

  // OPTIONS is answered everywhere (CORS), even without the headers of a browser's preflight.
  res = await app.inject({ method: "OPTIONS", url: "/v1/chat/completions" });
  assert.equal(res.statusCode, 204);
});

test("long client strings are cut in every message that quotes them", async () => {
  const long = "m".repeat(1_000_000);
  const cases = [
    {
      url: "/v1/chat/completions",
      payload: { model: long, messages: [{ role: "user", content: "x" }] },
      quoted: true,
    },
    { url: `/v1/${long.slice(0, 10_000)}`, method: "GET" },
    {
      url: "/v1/chat/completions",
      payload: {
        messages: [{ role: "user", content: "x" }],
        tools: [{ type: "function", function: { name: "f" } }],
        tool_choice: { type: "function", function: { name: long.slice(0, 200) } },
      },
      quoted: true,
    },
    {
      url: "/v1/chat/completions",
      payload: { messages: [{ role: "user", content: [{ type: long }] }] },
      quoted: true,
    },
    { url: "/v1/chat/completions", payload: { messages: [{ role: long, content: "x" }] }, quoted: true },
    { url: "/v1/chat/completions", payload: `{"messages": ${long}` },
  ];
  for (const { url, payload, method, quoted } of cases) {
    const res = await app.inject({ method: (method ?? "POST") as "POST", url, payload });
    assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${res.statusCode} for ${url.slice(0, 30)}`);
    const { message, code } = res.json().error as { message: string; code: string };
    seenCodes.add(code);
    assert.ok(message.length < 400, `a ${message.length}-character message: ${message.slice(0, 300)}`);
    if (quoted) assert.match(message, /'?m{100}…'?/);
  }
});

test("docs/api.md's error table lists every code these tests saw", async () => {
  const page = await readFile(new URL("../../../docs/api.md", import.meta.url), "utf8");
  for (const code of seenCodes) assert.ok(page.includes(`\`${code}\``), `docs/api.md lacks ${code}`);
  assert.ok(seenCodes.size >= 7);
});
